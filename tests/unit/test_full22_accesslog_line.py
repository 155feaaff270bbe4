"""The JSON line's per-request shortcuts (issue 22): a template copy instead of a dict literal, the start time's
fraction formatted inline, the start second's parts cached, the internal-route check remembered per route.

Each is checked against what it replaced: Go's key order and the table's fields, ``gofmt.fraction`` and
``Seconds.utc``/``Seconds.local`` for any time, and the log's filtering for any sequence of routes.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request
from hanzo_edge.observability.accesslog import CORE_FIELDS, AccessLog
from hanzo_edge.observability.accesslog.gofmt import Seconds, fraction
from hanzo_edge.observability.accesslog.modes import HeaderModes


@dataclass(frozen=True)
class Route:
    name: str
    service: str


def _request(route: Route | None, headers: list[tuple[bytes, bytes]] | None = None) -> Request:
    raw = [(b"Host", b"app.test:8080"), *(headers or [])]
    req = Request("GET", "/a", Headers(raw), host="app.test", client_ip="10.0.0.1", client_port=9, entry_point="web")
    req.route = route  # type: ignore[assignment]
    req.server_url = "http://10.0.0.2:80"
    return req


def _log_all(log: AccessLog, calls: list[tuple[Request, int, float]]) -> None:
    """Observe ``calls`` (request, status, duration) on a running loop, then write them out."""

    async def run() -> None:
        for req, status, duration in calls:
            log.observer(req, status, 5, duration, False)
        await log.flush()

    asyncio.run(run())


def _lines(stream: io.BytesIO) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


@settings(max_examples=200, deadline=None)
@given(
    now_ns=st.integers(1_000_000_000_000_000_000, 2_000_000_000_000_000_000),
    duration=st.floats(0, 5, allow_nan=False),
)
def test_start_times_match_the_per_call_formatting(now_ns: int, duration: float) -> None:
    stream = io.BytesIO()
    log = AccessLog(format="json", stream=stream, wall_ns=lambda: now_ns)
    _log_all(log, [(_request(Route("r@file", "s@file")), 200, duration)])
    (line,) = _lines(stream)
    start_sec, start_frac = divmod(now_ns - int(duration * 1_000_000_000), 1_000_000_000)
    seconds = Seconds()
    local, offset = seconds.local(start_sec)
    assert line["StartUTC"] == f"{seconds.utc(start_sec)}{fraction(start_frac)}Z"
    assert line["StartLocal"] == f"{local}{fraction(start_frac)}{offset}"


@given(st.lists(st.integers(0, 3_000_000_000), min_size=1, max_size=20))
def test_seconds_start_is_utc_and_local_of_that_second(instants: list[int]) -> None:
    seconds, fresh = Seconds(), Seconds()
    for instant in instants:
        assert seconds.start(instant) == (fresh.utc(instant), *fresh.local(instant))


def test_json_line_keys_in_go_order_from_the_template() -> None:
    stream = io.BytesIO()
    log = AccessLog(format="json", stream=stream, headers_default="keep", wall_ns=lambda: 1_700_000_000_000_000_000)
    headers = [(b"X-B", b"2"), (b"X-A", b"1")]
    _log_all(log, [(_request(Route("r@file", "s@file"), headers), 200, 0.01), (_request(None, headers), 404, 0.01)])
    routed, unrouted = _lines(stream)
    fields = [key for key in CORE_FIELDS if key not in ("TLSCipher", "TLSClientSubject", "TLSVersion")]
    assert list(routed) == [*fields, "level", "msg", "request_X-A", "request_X-B", "time"]
    assert (routed["RouterName"], routed["ServiceName"], routed["level"], routed["msg"]) == (
        "r@file",
        "s@file",
        "info",
        "",
    )
    unrouted_fields = [key for key in fields if key not in ("RouterName", "ServiceName")]
    assert list(unrouted) == [*unrouted_fields, "level", "msg", "request_X-A", "request_X-B", "time"]


routes = st.sampled_from(
    [
        Route("a@file", "s@file"),
        Route("b@file", "s@file"),
        Route("api@internal", "api@internal"),
        Route("ping@internal", ""),
        None,
    ]
)


@given(sequence=st.lists(routes, max_size=12), add_internals=st.booleans())
def test_internal_routes_are_skipped_whatever_came_before(sequence: list[Route | None], add_internals: bool) -> None:
    stream = io.BytesIO()
    log = AccessLog(format="json", stream=stream, add_internals=add_internals)
    _log_all(log, [(_request(route), 200, 0.001) for route in sequence])
    logged = [line.get("RouterName") for line in _lines(stream)]
    expected = [
        None if route is None else route.name
        for route in sequence
        if add_internals or route is None or not route.name.endswith("@internal")
    ]
    assert logged == expected
    assert log.request_count == len(expected)


header_names = st.sampled_from(
    [b"Host", b"host", b"HOST", b"X-Forwarded-For", b"x-forwarded-for", b"Hos", b"X-Forwarded-Fox"]
)
header_lists = st.lists(
    st.tuples(header_names, st.sampled_from([b"", b"a.test:80", b"10.0.0.1, 10.0.0.2"])), max_size=8
)


@given(raw=header_lists)
def test_host_and_forwarded_for_without_the_header_map_match_the_full_scan(raw: list[tuple[bytes, bytes]]) -> None:
    req = _request(None)
    req.headers = Headers(list(raw))
    collecting = HeaderModes("keep", {}).scan(req, True)
    plain = HeaderModes("drop", {}).scan(req, False)
    assert plain == (collecting[0], collecting[1], None)
