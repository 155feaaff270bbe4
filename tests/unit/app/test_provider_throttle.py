"""providersThrottleDuration: the first snapshot applies at once, a burst collapses into its newest snapshot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from hanzo_edge.app import IngressApp
from hanzo_edge.config.loader import load_static


def test_burst_of_snapshots_applies_first_and_last_only() -> None:
    static = load_static(
        ["--entrypoints.web.address=127.0.0.1:0", "--providers.providersThrottleDuration=200ms"], {}, search=False
    )

    async def scenario() -> list[Any]:
        app = IngressApp(static)
        applied: list[Any] = []
        app.apply_snapshot = lambda provider, config: applied.append(config)  # type: ignore[method-assign]
        release = asyncio.Event()

        async def watcher() -> AsyncIterator[str]:
            yield "first"
            await release.wait()
            for name in ("second", "third", "fourth"):
                yield name
            await asyncio.Event().wait()  # a provider never ends on its own

        task = asyncio.get_running_loop().create_task(app._follow("file", watcher()))
        for _ in range(200):
            if applied:
                break
            await asyncio.sleep(0.005)
        assert applied == ["first"], "the first snapshot must apply without waiting for the throttle"
        release.set()
        for _ in range(400):
            if len(applied) == 2:
                break
            await asyncio.sleep(0.005)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        return applied

    assert asyncio.run(scenario()) == ["first", "fourth"]
