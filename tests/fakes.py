"""The one fake clock of the test suite: time that only moves when a test says so.

Code under test takes an injected ``clock`` (monotonic seconds) and, where it waits, an injected ``sleep``. Both
come from one :class:`FakeClock`, so a test reads as a timeline (``clock.advance(2)``) and never sleeps for real.
``tests/conftest.py`` puts this directory on ``sys.path`` (pytest's rootdir conftest), so any test imports it as
``from fakes import FakeClock``.
"""

from __future__ import annotations

import asyncio

__all__ = ["FakeClock"]


class FakeClock:
    """A clock that only moves when told: ``clock()`` returns :attr:`now`; :meth:`sleep` waits for :meth:`advance`.

    ``sleep(seconds)`` records its delay in :attr:`sleeps` and returns once :meth:`advance` has moved :attr:`now`
    to its deadline, so a sleeping coroutine wakes exactly when the test's timeline passes that point. A sleep of
    zero or less returns at once (as ``asyncio.sleep`` does, after one loop iteration).
    """

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleep whose deadline is reached."""
        self.now += seconds
        waiting = []
        for deadline, future in self._sleepers:
            if deadline <= self.now:
                if not future.done():
                    future.set_result(None)
            else:
                waiting.append((deadline, future))
        self._sleepers = waiting

    async def sleep(self, seconds: float) -> None:
        """Wait until the clock reaches ``now + seconds`` (see the class docstring)."""
        self.sleeps.append(seconds)
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.now + seconds, future))
        await future

    @property
    def sleeping(self) -> int:
        """How many sleeps are waiting for the clock."""
        return sum(1 for _, future in self._sleepers if not future.done())
