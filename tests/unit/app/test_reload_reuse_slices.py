"""Reloads in slices: the provider watcher's rebuild gives the event loop back between slices of the build, and
builds exactly what a rebuild at once builds."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from hanzo_edge.app import IngressApp
from hanzo_edge.config.dynamic import Configuration, decode_dynamic
from hanzo_edge.config.loader import load_static
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request
from hanzo_edge.routing import slices as slices_module

ROUTERS = 2000


@pytest.fixture(autouse=True)
def _unfrozen_afterwards() -> Iterator[None]:
    yield
    gc.unfreeze()  # rebuilds freeze the heap; the rest of the session collects as usual
    gc.collect()


@pytest.fixture(autouse=True)
def _every_check_point_yields(monkeypatch: pytest.MonkeyPatch) -> None:
    """A slice's time is spent at once: every check point of the build yields, whatever the machine's speed."""
    monkeypatch.setattr(slices_module, "SLICE_SECONDS", 0.0)


def _config(changed: str) -> Configuration:
    routers: dict[str, Any] = {f"r{i}": {"rule": f"Host(`svc-{i}.test`)", "service": "s"} for i in range(ROUTERS)}
    routers["r7"] = {"rule": f"Host(`{changed}`)", "service": "s"}
    config, _ = decode_dynamic(
        {
            "http": {
                "routers": routers,
                "services": {"s": {"loadBalancer": {"servers": [{"url": "http://127.0.0.1:9"}]}}},
            }
        }
    )
    return config


def _app() -> IngressApp:
    return IngressApp(load_static(["--entrypoints.web.address=127.0.0.1:0"], {}, search=False))


def _route_of(app: IngressApp, host: str) -> str | None:
    req = Request("GET", "/", Headers([("host", host)]), host=host)
    app.switches["web"].current.lookup(req)
    return None if req.route is None else req.route.name


def test_a_sliced_reload_lets_the_loop_run_and_builds_what_a_reload_at_once_builds() -> None:
    async def scenario() -> None:
        app = _app()
        app.apply_snapshot("file", _config("first.test"))
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.get_running_loop().create_task(ticker())
        await asyncio.sleep(0)
        before = ticks
        slices: list[float] = []
        app.snapshots["file"] = _config("second.test")
        result = await app.rebuild_in_slices(slices)
        stop.set()
        await task
        assert len(slices) > ROUTERS, "the build yielded at the check point after every router"
        assert ticks - before >= len(slices) - 1, "other tasks ran between the slices"
        assert _route_of(app, "second.test") == "r7@file"
        assert _route_of(app, "first.test") is None
        assert result.routers.replayed == ROUTERS - 1
        at_once = _app()
        at_once.apply_snapshot("file", _config("second.test"))
        assert [r.name for r in app.switches["web"].current.routes] == [
            r.name for r in at_once.switches["web"].current.routes
        ]
        assert app.last_build is result

    asyncio.run(scenario())


def test_the_provider_watcher_applies_snapshots_in_slices() -> None:
    async def scenario() -> None:
        app = _app()
        app.apply_snapshot("file", _config("first.test"))
        fed = asyncio.Queue[Configuration]()

        async def snapshots() -> AsyncIterator[Configuration]:
            while True:
                yield await fed.get()

        task = asyncio.get_running_loop().create_task(app._follow("file", snapshots()))
        generation = app.generation
        await fed.put(_config("second.test"))
        for _ in range(10_000):  # bounded poll: the application is a few hundred loop iterations away
            settled = app.last_build is not None and app.last_build.tables["web"].generation > generation
            if settled:  # swapped in and settled (the old generation is retired a slice after the swap)
                break
            await asyncio.sleep(0)
        task.cancel()
        assert _route_of(app, "second.test") == "r7@file"
        assert app.last_build is not None
        assert app.last_build.routers.replayed == ROUTERS - 1

    asyncio.run(scenario())
