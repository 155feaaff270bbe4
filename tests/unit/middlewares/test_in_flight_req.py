"""``inFlightReq``: concurrent requests per source, 429 over the limit, slots released when the body is done."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hanzo_edge.config.dynamic import decode_dynamic
from hanzo_edge.http.body import BodyError, StreamBody
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.middlewares.base import BuildContext, factory_for
from hanzo_edge.middlewares.in_flight_req import InFlightReq


def _config(options: dict[str, Any]) -> Any:
    config, errors = decode_dynamic({"http": {"middlewares": {"m": {"inFlightReq": options}}}})
    assert not errors, errors
    return config.http.middlewares["m"].config


def _req(host: str = "app.test", method: str = "GET", client_ip: str = "10.0.0.1", **headers: str) -> Request:
    raw = [(b"Host", host.encode())] + [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    return Request(method, "/", Headers(raw), host=host, client_ip=client_ip)


class Gate:
    """A fake ``next`` whose requests wait until released; answers with ``make()``."""

    def __init__(self, make: Any = None) -> None:
        self.release = asyncio.Event()
        self.entered = 0
        self.make = make or (lambda req: Response(200, Headers(), b"ok"))

    async def __call__(self, req: Request) -> Response:
        self.entered += 1
        await self.release.wait()
        return self.make(req)


class Source:
    """A body source that records flow control and closing."""

    def __init__(self) -> None:
        self.paused = False
        self.closed = False

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def close(self) -> None:
        self.closed = True


class Sink:
    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.eof = False
        self.error: BaseException | None = None

    def write(self, chunk: bytes) -> None:
        self.chunks.append(chunk)

    def write_eof(self) -> None:
        self.eof = True

    def abort(self, exc: BaseException) -> None:
        self.error = exc


def _handler(options: dict[str, Any], next_: Any) -> InFlightReq:
    return InFlightReq(next_, _config(options), name="m@file", ctx=BuildContext())


async def _statuses(handler: InFlightReq, gate: Gate, requests: list[Request]) -> list[tuple[int, bytes]]:
    tasks = [asyncio.ensure_future(handler(r)) for r in requests]
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    gate.release.set()
    out = []
    for task in tasks:
        resp = await task
        out.append((resp.status, resp.body if isinstance(resp.body, bytes) else b"<stream>"))
    return out


REJECT2 = (429, b"max connections reached: 2")

CASES = [
    pytest.param({"amount": 2}, [_req(), _req(), _req()], [(200, b"ok"), (200, b"ok"), REJECT2], id="third-same-host"),
    pytest.param(
        {"amount": 2},
        [_req("a.test"), _req("a.test"), _req("b.test"), _req("b.test"), _req("a.test")],
        [(200, b"ok")] * 4 + [REJECT2],
        id="default-source-is-the-host",
    ),
    pytest.param(
        {"amount": 1, "sourceCriterion": {"ipStrategy": {}}},
        [_req(client_ip="1.1.1.1"), _req(client_ip="2.2.2.2"), _req(client_ip="1.1.1.1")],
        [(200, b"ok"), (200, b"ok"), (429, b"max connections reached: 1")],
        id="ip-source",
    ),
    pytest.param(
        {"amount": 1, "sourceCriterion": {"requestHeaderName": "X-Tenant"}},
        [_req(X_Tenant="t1"), _req(X_Tenant="t2"), _req(X_Tenant="t1")],
        [(200, b"ok"), (200, b"ok"), (429, b"max connections reached: 1")],
        id="header-source",
    ),
    pytest.param({"amount": 0}, [_req()], [(429, b"max connections reached: 0")], id="amount-0-rejects-all"),
]


@pytest.mark.parametrize(("options", "requests", "expected"), CASES)
def test_concurrent_requests_over_the_amount_get_429(
    options: dict[str, Any], requests: list[Request], expected: list[tuple[int, bytes]]
) -> None:
    async def run() -> list[tuple[int, bytes]]:
        gate = Gate()
        handler = _handler(options, gate)
        out = await _statuses(handler, gate, requests)
        assert handler.counts == {}, "every slot must be released"
        return out

    assert asyncio.run(run()) == expected


def test_429_has_no_content_type() -> None:
    async def run() -> Response:
        gate = Gate()
        handler = _handler({"amount": 1}, gate)
        first = asyncio.ensure_future(handler(_req()))
        await asyncio.sleep(0)
        rejected = await handler(_req())
        gate.release.set()
        await first
        return rejected

    resp = asyncio.run(run())
    assert (resp.status, resp.headers.raw, resp.body) == (429, [], b"max connections reached: 1")


def test_sequential_requests_reuse_the_slot() -> None:
    async def run() -> list[int]:
        async def ok(req: Request) -> Response:
            return Response(200, Headers(), b"ok")

        handler = _handler({"amount": 1}, ok)
        return [(await handler(_req())).status for _ in range(5)]

    assert asyncio.run(run()) == [200] * 5


def test_registered_under_traefik_name() -> None:
    assert factory_for("inFlightReq") is InFlightReq


def test_conflicting_criteria_are_a_config_error() -> None:
    with pytest.raises(ValueError, match="error creating requests limiter: requestHost and RequestHeaderName"):
        _handler({"amount": 1, "sourceCriterion": {"requestHost": True, "requestHeaderName": "X"}}, Gate())


# -- when the slot is released -----------------------------------------------------------------------------------------
def _streaming(source: Source, length: int | None = None) -> Any:
    async def next_(req: Request) -> Response:
        return Response(200, Headers(), StreamBody(source, length))

    return next_


def test_stream_body_holds_the_slot_until_pumped_to_the_end() -> None:
    async def run() -> None:
        source = Source()
        handler = _handler({"amount": 1}, _streaming(source, 6))
        resp = await handler(_req())
        assert isinstance(resp.body, StreamBody)
        assert resp.body.length == 6
        assert handler.counts == {"app.test": 1}
        assert (await handler(_req())).status == 429  # head sent, body still flowing
        # The upstream keeps feeding the original body; the server pumps the wrapper after writing the head.
        sink = Sink()
        resp.body.pump(sink)
        assert handler.counts == {"app.test": 1}
        return_body: Any = resp.body
        inner = return_body._source.inner
        inner.feed(b"abc")
        inner.feed(b"def")
        assert sink.chunks == [b"abc", b"def"]
        assert handler.counts == {"app.test": 1}
        inner.feed_eof()
        assert sink.eof
        assert handler.counts == {}
        assert (await handler(_req())).status == 200
        assert source.closed is False

    asyncio.run(run())


def test_stream_body_read_by_a_middleware_releases_at_eof() -> None:
    async def run() -> None:
        source = Source()
        handler = _handler({"amount": 1}, _streaming(source))
        resp = await handler(_req())
        body: Any = resp.body
        body._source.inner.feed(b"x" * 10)
        body._source.inner.feed_eof()
        assert handler.counts == {"app.test": 1}  # delivered upstream-side, not yet read
        assert await body.read() == b"x" * 10
        assert handler.counts == {}

    asyncio.run(run())


def test_stream_body_failure_and_client_disconnect_release() -> None:
    async def run() -> None:
        source = Source()
        handler = _handler({"amount": 2}, _streaming(source))
        failing = (await handler(_req())).body
        dropped = (await handler(_req())).body
        assert handler.counts == {"app.test": 2}
        assert isinstance(failing, StreamBody)
        assert isinstance(dropped, StreamBody)
        sink = Sink()
        failing.pump(sink)
        failing._source.inner.feed_error(ConnectionResetError("upstream reset"))  # type: ignore[union-attr]
        assert isinstance(sink.error, ConnectionResetError)
        assert handler.counts == {"app.test": 1}
        # What the server does when the client goes away: fail the body, close its source.
        dropped.pump(Sink())
        dropped.feed_error(ConnectionResetError("client disconnected"))
        dropped._source.close()  # type: ignore[union-attr]
        assert source.closed
        assert handler.counts == {}

    asyncio.run(run())


def test_stream_body_read_error_releases() -> None:
    async def run() -> None:
        handler = _handler({"amount": 1}, _streaming(Source()))
        body: Any = (await handler(_req())).body
        body._source.inner.feed_error(ConnectionResetError("reset"))
        with pytest.raises(BodyError):
            await body.read()
        assert handler.counts == {}

    asyncio.run(run())


def test_flow_control_passes_through_to_the_original_body() -> None:
    async def run() -> None:
        source = Source()
        handler = _handler({"amount": 1}, _streaming(source))
        body: Any = (await handler(_req())).body
        body.pause()
        assert source.paused
        body.resume()
        assert not source.paused

    asyncio.run(run())


@pytest.mark.parametrize(
    ("method", "status"),
    [
        pytest.param("HEAD", 200, id="head"),
        pytest.param("GET", 204, id="204"),
        pytest.param("GET", 304, id="304"),
        pytest.param("GET", 101, id="upgrade"),
    ],
)
def test_bodiless_responses_release_at_once(method: str, status: int) -> None:
    async def run() -> None:
        async def next_(req: Request) -> Response:
            return Response(status, Headers(), StreamBody(Source(), None))

        handler = _handler({"amount": 1}, next_)
        resp = await handler(_req(method=method))
        assert handler.counts == {}
        assert isinstance(resp.body, StreamBody)

    asyncio.run(run())


def test_exception_and_cancellation_release() -> None:
    async def run() -> None:
        async def boom(req: Request) -> Response:
            raise RuntimeError("boom")

        handler = _handler({"amount": 1}, boom)
        with pytest.raises(RuntimeError):
            await handler(_req())
        assert handler.counts == {}

        gate = Gate()
        handler = _handler({"amount": 1}, gate)
        task = asyncio.ensure_future(handler(_req()))
        await asyncio.sleep(0)
        assert handler.counts == {"app.test": 1}
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert handler.counts == {}

    asyncio.run(run())
