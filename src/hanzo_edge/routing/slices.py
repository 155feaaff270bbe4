"""Run a build either at once or in slices that give the event loop back between them.

A build is written once, as a generator that yields between pieces of work (at its check points once the slice has
used :data:`SLICE_SECONDS`, see :func:`slice_spent`; around the table compile); :func:`run_steps` drives it to the
end in one go (``ingress check``, tests, the first build before serving), :func:`run_steps_async` returns to the
event loop after every slice, so a reload of 10,000 routers never holds requests up for the whole build. A thread
would not help: the GIL would still stall the loop. Both drivers give the same result; the swap that makes it live
stays one reference assignment, done by the caller after the last slice.

The cyclic garbage collector is paused during each slice (a build allocates a few objects per router and nothing it
allocates is garbage yet; gen-2 passes over the live configuration made up 40% of a build) and runs again between
slices, where the loop's own work may need it.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import math
import sys
import time
from collections.abc import Callable, Generator
from typing import ParamSpec, TypeVar

__all__ = [
    "SLICE_SECONDS",
    "Steps",
    "release_steps",
    "run_steps",
    "run_steps_async",
    "slice_spent",
    "sync",
]

SLICE_SECONDS = 0.002
"""How long one slice may hold the event loop before its next check point yields.

A time, not a count of routers: a count fits one kind of work only (500 routers were 5 ms of replays but 20 ms of
fresh builds, and twice that on a busy core). A request in flight waits for up to three slices (one before its
head is read, one while the backend answers, one before the response is written), so the worst delay a reload
adds is about three slices: 4-6 ms slices gave 8-14 ms worst delays (``benchmarks/reload_stall.py``)."""

_RELEASE_CHECK_EVERY = 256
"""Objects :func:`release_steps` frees between two reads of the clock (each is a fraction of a microsecond)."""

_deadline = math.inf
"""When the running slice must yield (``perf_counter`` seconds); infinite outside :func:`run_steps_async`."""

T = TypeVar("T")
P = ParamSpec("P")
Steps = Generator[None, None, T]


def slice_spent() -> bool:
    """True once the slice that is running has used :data:`SLICE_SECONDS`: the check point of a sliced build.

    Never true when the steps are run at once (:func:`run_steps`, or any code outside :func:`run_steps_async`), so
    such a build never stops at its check points."""
    return time.perf_counter() >= _deadline


def run_steps(steps: Steps[T]) -> T:
    """Run ``steps`` to the end without yielding to anyone; return its result."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        while True:
            try:
                next(steps)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
    finally:
        if enabled:
            gc.enable()


async def run_steps_async(steps: Steps[T], slices: list[float] | None = None) -> T:
    """Run ``steps`` slice by slice, letting the event loop run between slices; return its result.

    ``slices`` receives each slice's duration in seconds (how long the loop was held). Each slice gets
    :data:`SLICE_SECONDS` (read at every slice, so a test may shrink it) before :func:`slice_spent` says so."""
    global _deadline  # one slice runs at a time on a loop: the check points read it without it being passed down
    clock = time.perf_counter
    while True:
        enabled = gc.isenabled()
        gc.disable()
        started = clock()
        _deadline = started + SLICE_SECONDS
        try:
            next(steps)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        finally:
            _deadline = math.inf
            if enabled:
                gc.enable()
            if slices is not None:
                slices.append(clock() - started)
        await _behind_ready_work()


def _behind_ready_work() -> asyncio.Future[None]:
    """A future that completes one loop iteration later, so the next slice runs after what that iteration readies.

    ``asyncio.sleep(0)`` queues the next slice at once, ahead of the callbacks the next poll readies (a request's
    data, its handler's step, a timer): they then ran only after another slice, waiting two slices instead of one
    (8-14 ms instead of 5, measured with a probe coroutine). Completing a future from a queued callback puts the
    next slice behind them.
    """
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[None] = loop.create_future()
    loop.call_soon(_complete, waiter)
    return waiter


def _complete(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():  # cancelled meanwhile (the reload task was cancelled at shutdown)
        waiter.set_result(None)


def sync(steps: Callable[P, Steps[T]]) -> Callable[P, T]:
    """The function that runs ``steps(...)`` at once (same parameters)."""

    @functools.wraps(steps)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        return run_steps(steps(*args, **kwargs))

    return run


def release_steps(*garbage: object) -> Steps[None]:
    """Drop ``garbage`` (a retired generation, a replaced snapshot) piece by piece, yielding between pieces.

    Freeing 10,000 routers' records at once held the loop 15-40 ms: the last reference going frees the whole tree in
    one deallocation cascade. Here the tree is walked instead: an object only we hold (its reference count says so)
    has its referents taken over (:func:`gc.get_referents`) before our reference to it is dropped, so it frees alone
    and its children wait for their turn; an object someone else holds (shared with the new generation) is simply let
    go. Nothing is mutated, so what the new generation shares is never touched; a reference cycle is left to the
    cyclic collector as before. The caller must hold no reference of its own: pass the last one.
    """
    pending: list[object] = list(garbage)
    del garbage
    handled = 0
    while pending:
        item = pending.pop()
        # Two references: ``item`` and getrefcount's argument. More: someone else holds it, letting go frees nothing.
        if sys.getrefcount(item) == 2:
            pending.extend(gc.get_referents(item))
        del item  # frees it alone: its children are in ``pending``
        handled += 1
        if handled % _RELEASE_CHECK_EVERY == 0 and slice_spent():
            yield
