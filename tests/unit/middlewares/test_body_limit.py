"""The request-body limit (issue 9, HIP-68): the body's own counter, the router override computed at build time,
the entrypoint option in the static model, and how ``buffering`` takes part.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from hanzo_edge.app import entrypoint_settings
from hanzo_edge.config.dynamic import decode_dynamic
from hanzo_edge.config.errors import ConfigError
from hanzo_edge.config.loader import load_static
from hanzo_edge.config.middlewares import Buffering as BufferingConfig
from hanzo_edge.http.body import NO_LIMIT, BodyError, BodyTooLarge, StreamBody
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.http.pool import PoolRegistry
from hanzo_edge.http.settings import EntrypointSettings
from hanzo_edge.middlewares.base import BuildContext
from hanzo_edge.middlewares.buffering import Buffering
from hanzo_edge.routing.build import TransportOptions, build_tables

TEN_MIB = 10 * 1024 * 1024


class Source:
    """A body source that records whether its reading is paused."""

    def __init__(self) -> None:
        self.paused = False

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False


class Sink:
    """A pump target that records what it got and how the body ended."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.ended: BaseException | bool = False

    def write(self, chunk: bytes) -> None:
        self.data += chunk

    def write_eof(self) -> None:
        self.ended = True

    def abort(self, exc: BaseException) -> None:
        self.ended = exc


# -- the body's counter ----------------------------------------------------------------------------------------------


def test_a_new_body_has_no_limit() -> None:
    body = StreamBody(None)
    body.feed(b"x" * 100_000)
    assert body.limit == NO_LIMIT
    assert not body.exceeded
    assert body.error is None


@pytest.mark.parametrize(
    ("length", "limit", "fits"),
    [
        pytest.param(10, 10, True, id="declared-at-limit"),
        pytest.param(11, 10, False, id="declared-over-limit"),
        pytest.param(None, 10, True, id="chunked-nothing-yet"),
        pytest.param(10**12, 0, True, id="zero-is-no-limit"),
    ],
)
def test_admit_judges_a_declared_length_without_reading(length: int | None, limit: int, fits: bool) -> None:
    source = Source()
    body = StreamBody(source, length)
    assert body.admit(limit) is fits
    assert body.received == 0
    assert body.error is None, "admit never fails the body: the caller answers 413 itself"
    assert not source.paused


def test_admit_counts_what_arrived_before_routing() -> None:
    body = StreamBody(Source())
    body.feed(b"x" * 30)  # before routing the body has no limit yet: nothing fails
    assert body.error is None
    assert body.admit(29) is False
    again = StreamBody(Source())
    again.feed(b"x" * 30)
    assert again.admit(30) is True


def test_the_chunk_that_passes_the_limit_is_not_delivered_and_pauses_the_source() -> None:
    source = Source()
    body = StreamBody(source)
    body.admit(10)
    sink = Sink()
    body.pump(sink)
    body.feed(b"abcdef")
    body.feed(b"ghij")  # exactly at the limit
    assert bytes(sink.data) == b"abcdefghij"
    assert not body.exceeded
    body.feed(b"k")
    assert bytes(sink.data) == b"abcdefghij"
    assert isinstance(sink.ended, BodyTooLarge)
    assert sink.ended.limit == 10
    assert body.exceeded
    assert source.paused
    body.resume()
    assert source.paused, "nothing more of an over-limit body is wanted: it stays paused"
    body.feed(b"more")  # bytes already in flight when the source paused are dropped
    assert bytes(sink.data) == b"abcdefghij"
    body.feed_eof()
    assert isinstance(sink.ended, BodyTooLarge), "the body ended with its error, never with EOF"


def test_reading_an_over_limit_body_raises_body_too_large_after_the_chunks_within_it() -> None:
    async def go() -> None:
        body = StreamBody(Source())
        body.admit(5)
        body.feed(b"abc")
        body.feed(b"def")
        assert await body.read_chunk() == b"abc"
        with pytest.raises(BodyTooLarge):
            await body.read_chunk()
        with pytest.raises(BodyError):
            await body.read()  # a BodyTooLarge is a BodyError: existing handlers still see a failed body

    asyncio.run(go())


def test_tighten_only_lowers_and_fails_a_body_already_past_it() -> None:
    body = StreamBody(Source())
    body.admit(100)
    body.tighten(200)
    assert body.limit == 100
    body.tighten(50)
    assert body.limit == 50
    body.feed(b"x" * 40)
    assert body.error is None
    body.tighten(30)
    assert isinstance(body.error, BodyTooLarge)


def test_a_finished_body_never_pauses_its_connection() -> None:
    # A keep-alive connection whose whole body arrived must not be left paused by a late limit.
    source = Source()
    body = StreamBody(source)
    body.feed(b"x" * 40)
    body.feed_eof()
    body.tighten(10)
    assert not source.paused
    assert body.error is None


# -- settings: the entrypoint default, and the router's override -----------------------------------------------------


class _Route:
    def __init__(self, body_limit: int | None) -> None:
        self.body_limit = body_limit


@pytest.mark.parametrize(
    ("route", "expected"),
    [
        pytest.param(None, 1000, id="unrouted"),
        pytest.param(_Route(None), 1000, id="router-without-buffering"),
        pytest.param(_Route(104857600), 104857600, id="router-raises"),
        pytest.param(_Route(10), 10, id="router-lowers"),
        pytest.param(_Route(0), 0, id="router-unlimited"),
    ],
)
def test_body_limit_for_a_route(route: object, expected: int) -> None:
    assert EntrypointSettings(max_request_body_bytes=1000).body_limit_for(route) == expected


def test_the_protocol_settings_default_is_ten_mib() -> None:
    assert EntrypointSettings().max_request_body_bytes == TEN_MIB


# -- the static option ----------------------------------------------------------------------------------------------


def _web(*flags: str, env: dict[str, str] | None = None) -> Any:
    if env is not None:
        return load_static([], env, search=False).entry_points["web"]
    return load_static(["--entrypoints.web.address=:80", *flags], {}, search=False).entry_points["web"]


def test_the_entrypoint_option_defaults_to_ten_mib_and_reaches_the_protocol() -> None:
    web = _web()
    assert web.http.max_request_body_bytes == TEN_MIB
    assert entrypoint_settings("web", web).max_request_body_bytes == TEN_MIB


def test_the_entrypoint_option_from_flags_env_and_file(tmp_path: Path) -> None:
    assert _web("--entrypoints.web.http.maxRequestBodyBytes=1000").http.max_request_body_bytes == 1000
    assert _web("--entryPoints.web.http.maxrequestbodybytes=0").http.max_request_body_bytes == 0
    env = {"TRAEFIK_ENTRYPOINTS_WEB_ADDRESS": ":80", "TRAEFIK_ENTRYPOINTS_WEB_HTTP_MAXREQUESTBODYBYTES": "2048"}
    assert _web(env=env).http.max_request_body_bytes == 2048
    static = tmp_path / "traefik.yml"
    static.write_text("entryPoints:\n  web:\n    address: ':80'\n    http:\n      maxRequestBodyBytes: 104857600\n")
    loaded = load_static([f"--configFile={static}"], {}, search=False).entry_points["web"]
    assert entrypoint_settings("web", loaded).max_request_body_bytes == 104857600


def test_a_negative_entrypoint_limit_is_refused_naming_the_option() -> None:
    with pytest.raises(ConfigError, match=r"maxRequestBodyBytes must be >= 0"):
        _web("--entrypoints.web.http.maxRequestBodyBytes=-1")


# -- the router's override, computed when the table is built -----------------------------------------------------------


def _routes(middlewares: dict[str, Any], routers: dict[str, list[str]]) -> dict[str, Any]:
    http = {
        "services": {"s": {"loadBalancer": {"servers": [{"url": "http://127.0.0.1:9"}]}}},
        "middlewares": middlewares,
        "routers": {
            name: {"rule": f"Host(`{name}.test`)", "service": "s", "middlewares": mws} for name, mws in routers.items()
        },
    }
    config, _ = decode_dynamic({"http": http})
    result = build_tables({"file": config}, ["web"], ["web"], PoolRegistry(), TransportOptions())
    return {route.name: route for route in result.tables["web"].routes}


def test_each_router_carries_the_limit_its_buffering_sets() -> None:
    routes = _routes(
        {
            "upload": {"buffering": {"maxRequestBodyBytes": 104857600}},
            "small": {"buffering": {"maxRequestBodyBytes": 1000}},
            "unlimited": {"buffering": {"maxResponseBodyBytes": 5000}},
            "both": {"chain": {"middlewares": ["upload", "small"]}},
            "headers": {"headers": {"customRequestHeaders": {"X-A": "1"}}},
        },
        {
            "plain": [],
            "other": ["headers"],
            "upload": ["headers", "upload"],
            "small": ["small"],
            "unlimited": ["unlimited"],
            "both": ["both"],
        },
    )
    assert routes["plain@file"].body_limit is None, "no buffering: the entrypoint's limit applies"
    assert routes["other@file"].body_limit is None
    assert routes["upload@file"].body_limit == 104857600
    assert routes["small@file"].body_limit == 1000
    assert routes["unlimited@file"].body_limit == 0, "buffering's maxRequestBodyBytes 0 means no limit (Traefik)"
    assert routes["both@file"].body_limit == 1000, "each buffering enforces its own: the smallest wins"


def test_the_routers_limit_comes_through_an_entrypoint_middleware_too() -> None:
    http = {
        "services": {"s": {"loadBalancer": {"servers": [{"url": "http://127.0.0.1:9"}]}}},
        "middlewares": {"cap": {"buffering": {"maxRequestBodyBytes": 4096}}},
        "routers": {"r": {"rule": "Host(`r.test`)", "service": "s"}},
    }
    config, _ = decode_dynamic({"http": http})
    result = build_tables(
        {"file": config},
        ["web"],
        ["web"],
        PoolRegistry(),
        TransportOptions(),
        entry_point_middlewares={"web": ["cap@file"]},
    )
    (route,) = result.tables["web"].routes
    assert route.body_limit == 4096


# -- buffering takes part without replacing the body -----------------------------------------------------------------


def _request(body: bytes | StreamBody) -> Request:
    return Request("POST", "/upload", Headers([(b"Host", b"app.test")]), host="app.test", body=body)


def _buffering(next: Any, **options: Any) -> Buffering:
    return Buffering(next, BufferingConfig(**options), name="buf@file", ctx=BuildContext())


def test_streaming_buffering_counts_on_the_clients_own_body() -> None:
    async def go() -> None:
        seen: list[object] = []

        async def backend(req: Request) -> Response:
            seen.append(req.body)
            return Response(200)

        body = StreamBody(Source())
        body.admit(5000)  # the router's limit, applied when the request was routed
        await _buffering(backend, max_request_body_bytes=100)(_request(body))
        assert seen == [body], "the body is not wrapped: the protocol's own counter does the work"
        assert body.limit == 100

    asyncio.run(go())


def test_full_buffering_answers_413_when_the_bodys_limit_is_smaller_than_its_own() -> None:
    async def go() -> None:
        async def backend(req: Request) -> Response:
            return Response(200)

        body = StreamBody(Source())
        body.admit(10)
        body.feed(b"x" * 20)
        body.feed_eof()
        response = await _buffering(backend, max_request_body_bytes=0, max_response_body_bytes=10)(_request(body))
        assert (response.status, response.body) == (413, b"Request Entity Too Large")

    asyncio.run(go())
