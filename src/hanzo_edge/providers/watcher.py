"""Between the providers and the application: the newest snapshot per provider, deduplicated and throttled.

This is Traefik's ``throttleProviderConfigReload`` (``pkg/server/configurationwatcher.go``), one per provider:

* **dedupe**: a snapshot equal to the provider's previous one is dropped when it arrives, so it never costs a
  rebuild nor takes a throttle slot;
* **newest wins**: snapshots that arrive while an application is being held back replace each other; only the
  newest is applied;
* **throttle** (``providers.providersThrottleDuration``): two applications of one provider are at least that far
  apart. The first change after a quiet period applies at once, so a single edit is live without waiting; a burst
  collapses into its first and its last snapshot.

An application that raises is logged and reported to ``on_failure`` (the failed-reload metric); the previous
configuration keeps serving and the watcher keeps following the provider.

Time comes from an injected ``clock`` and ``sleep`` so the throttle is tested without real waiting; by default they
are the event loop's own (``loop.time`` and ``asyncio.sleep``), whose timers the sleep runs on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["Apply", "Clock", "Sleep", "SnapshotWatcher"]

log = logging.getLogger("hanzo_edge.providers")

S = TypeVar("S")

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
Apply = Callable[[str, S], Awaitable[None] | None]


class SnapshotWatcher(Generic[S]):
    """Feed each provider's snapshots to ``apply(provider, snapshot)``: deduplicated, newest first, throttled.

    Args:
        apply: applies one provider's snapshot (``IngressApp.apply_snapshot``); it may raise, and may return an
            awaitable (a rebuild in slices), which is awaited before the next application.
        throttle: minimum seconds between two applications of one provider.
        on_failure: called after an application raised (it is logged first).
        clock: monotonic seconds; default the running loop's ``time``.
        sleep: waits so many seconds; default ``asyncio.sleep``.
    """

    def __init__(
        self,
        apply: Apply[S],
        throttle: float,
        *,
        on_failure: Callable[[], None] | None = None,
        clock: Clock | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.apply = apply
        self.throttle = throttle
        self.on_failure = on_failure
        self.clock = clock
        self.sleep = sleep
        self.latest: dict[str, S] = {}
        """The newest snapshot each provider yielded (what a repeat is compared with)."""

    def offer(self, provider: str, snapshot: S) -> bool:
        """Record ``snapshot`` as ``provider``'s newest; False when it equals the previous one (it is dropped)."""
        if provider in self.latest and self.latest[provider] == snapshot:
            log.debug("skipping an unchanged configuration of provider %s", provider)
            return False
        self.latest[provider] = snapshot
        return True

    async def first(self, provider: str, snapshots: AsyncIterator[S]) -> S:
        """Return ``provider``'s initial snapshot (the caller applies it with the others before serving)."""
        snapshot = await anext(snapshots)
        self.latest[provider] = snapshot
        return snapshot

    async def follow(self, provider: str, snapshots: AsyncIterator[S]) -> None:
        """Apply ``provider``'s snapshots until cancelled (see the module docstring for the rules)."""
        loop = asyncio.get_running_loop()
        clock = self.clock or loop.time
        pending: list[S] = []  # at most one: the newest snapshot not applied yet
        arrived = asyncio.Event()

        async def pull() -> None:
            try:
                async for snapshot in snapshots:
                    if self.offer(provider, snapshot):
                        pending[:] = [snapshot]
                        arrived.set()
            except asyncio.CancelledError:
                raise
            except Exception:
                # A provider that breaks must not stop silently: its last applied snapshot keeps serving.
                log.exception("provider %s stopped; its last configuration keeps serving", provider)
            else:
                log.error("provider %s stopped; its last configuration keeps serving", provider)

        puller = loop.create_task(pull())
        last_apply = -float("inf")
        try:
            while True:
                await arrived.wait()
                wait = last_apply + self.throttle - clock()
                if wait > 0:
                    await self.sleep(wait)
                arrived.clear()
                if not pending:
                    continue
                await self._apply(provider, pending.pop())
                last_apply = clock()
        finally:
            puller.cancel()

    async def _apply(self, provider: str, snapshot: S) -> None:
        try:
            outcome = self.apply(provider, snapshot)
            if outcome is not None:
                await outcome
        except Exception:
            log.exception("applying the %s configuration failed; the previous one keeps serving", provider)
            if self.on_failure is not None:
                self.on_failure()
