"""Issue 22: an entrypoint's observers behind one compiled call (``observability/fan_out.py``).

``App._observer_for`` hands the pipeline a :class:`FanOut` when two or more observers are on, and a
:class:`PerRouterObservers` when some router overrides ``observability``; these pin what the closures they replaced
did: every hook in order with the very objects the pipeline passed, and a router's explicit setting winning over the
entrypoint's default. The same tests run against the compiled tree in ``make test-compiled``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from hanzo_edge.app import IngressApp
from hanzo_edge.config.loader import load_static
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.observability.accesslog import AccessLog
from hanzo_edge.observability.fan_out import FanOut, PerRouterObservers
from hanzo_edge.observability.metrics import Metrics
from hanzo_edge.routing.table import Route

Call = tuple[str, Request, Any, Any, Any, Any]


async def _ok(req: Request) -> Response:
    return Response(200)


def _request(
    observability: tuple[bool | None, bool | None, bool | None] | None = None, *, routed: bool = True
) -> Request:
    req = Request("GET", "/", Headers([(b"Host", b"a.example")]), entry_point="web")
    if routed:
        req.route = Route(
            name="r@file",
            priority=1,
            matches=lambda r: True,
            handler=_ok,
            service="s@file",
            observability=observability,
        )
    return req


class Recorder:
    """Hooks that record their calls in one shared list, in call order."""

    def __init__(self) -> None:
        self.calls: list[Call] = []

    def hook(self, name: str) -> Any:
        def observe(req: Request, status: int, size: int, duration: float, aborted: bool) -> None:
            self.calls.append((name, req, status, size, duration, aborted))

        return observe


def test_fan_out_calls_every_hook_in_order_with_the_callers_objects() -> None:
    recorder = Recorder()
    fan = FanOut((recorder.hook("log"), recorder.hook("metrics"), recorder.hook("tracing")))
    req, duration = _request(), 0.25
    fan(req, 404, 17, duration, True)
    assert [c[0] for c in recorder.calls] == ["log", "metrics", "tracing"]
    for _, seen_req, status, size, seen_duration, aborted in recorder.calls:
        assert seen_req is req
        assert seen_duration is duration  # handed on as they are (no unboxing, no boxing again)
        assert (status, size, aborted) == (404, 17, True)


def test_per_router_observers_follow_the_routers_overrides() -> None:
    recorder = Recorder()
    log, metrics, tracing = recorder.hook("log"), recorder.hook("metrics"), recorder.hook("tracing")
    # The entrypoint: access log on, metrics off, tracing on.
    observers = PerRouterObservers(((log, 0, True), (metrics, 1, False), (tracing, 2, True)), (log, tracing))

    def seen(req: Request) -> list[str]:
        recorder.calls.clear()
        observers(req, 200, 1, 0.01, False)
        return [c[0] for c in recorder.calls]

    assert seen(_request(None)) == ["log", "tracing"]  # the router overrides nothing: the entrypoint's defaults
    assert seen(_request(routed=False)) == ["log", "tracing"]  # no router matched: the entrypoint's defaults
    assert seen(_request((None, None, None))) == ["log", "tracing"]  # every flag unset: the defaults, one by one
    assert seen(_request((False, True, None))) == ["metrics", "tracing"]  # explicit settings win
    assert seen(_request((True, True, False))) == ["log", "metrics"]


def _app(*flags: str) -> IngressApp:
    argv = ["--entrypoints.web.address=127.0.0.1:0", *flags]
    return IngressApp(load_static(argv, {}, search=False))


def test_the_app_hands_the_pipeline_one_call_for_its_observers(tmp_path: Path) -> None:
    async def check() -> None:
        both = _app("--metrics.prometheus=true")
        # The app opens its access log when it starts serving; the one it would open, without starting it:
        both.access_log = AccessLog(format="json", file_path=str(tmp_path / "access.log"))
        try:
            entry_point = both.static.entry_points["web"]
            fan = both._observer_for(entry_point)
            assert isinstance(fan, FanOut)
            assert both.metrics is not None
            assert fan.hooks == (both.access_log.observer, both.metrics.observer)  # the access log first, as before
            assert isinstance(both._observer_for(entry_point, overridden=True), PerRouterObservers)
        finally:
            await both.access_log.aclose()

    asyncio.run(check())
    metrics_only = _app("--metrics.prometheus=true")
    only = metrics_only._observer_for(metrics_only.static.entry_points["web"])
    assert isinstance(metrics_only.metrics, Metrics)
    assert only == metrics_only.metrics.observer  # one observer: called directly, no fan-out
    nothing = _app()
    assert nothing._observer_for(nothing.static.entry_points["web"]) is None
