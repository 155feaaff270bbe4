"""Head-only middlewares fused into plain calls (issue 22): the fused chain behaves exactly as the plain onion.

Differential: the same layers nested as coroutines (each ``__call__`` awaiting the next) and built by the chain
builder (runs of head-only layers fused into ``FusedHead``), run both through the handler itself and through the
request pipeline (which inlines the outermost ``FusedHead``): same upstream request, same response, same order of
side effects, same failures, for any mix of head-only and plain layers, early answers and exceptions.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hanzo_edge.config.middlewares import Headers as HeadersConfig
from hanzo_edge.config.middlewares import Middleware
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.http.pipeline import handle_request
from hanzo_edge.http.settings import ConnectionContext, EntrypointSettings
from hanzo_edge.middlewares.base import (
    BuildContext,
    FusedHead,
    HeadHooks,
    MiddlewareKind,
    add_kind,
    fuse_heads,
    middleware_of,
)
from hanzo_edge.middlewares.headers import HeadersMiddleware
from hanzo_edge.routing.middleware_builder import MiddlewareBuilder

EVENTS: list[str] = []
"""The side effects of one run, in order (layers and the service append to it)."""


class Probe(msgspec.Struct, frozen=True, kw_only=True):
    index: int
    head_only: bool


class ProbeMiddleware:
    """Logs its request and response steps; answers early or fails when the request asks it to (by header)."""

    def __init__(self, next: Handler, config: Probe, *, name: str, ctx: BuildContext) -> None:
        self.next = next
        self.index = config.index
        self.head_hooks = HeadHooks(self._on_request, self._on_response) if config.head_only else None

    def _on_request(self, req: Request) -> Response | None:
        i = self.index
        EVENTS.append(f"request {i}")
        req.headers.add("X-Seen", str(i))
        if req.headers.get(f"X-Fail-Request-{i}"):
            raise RuntimeError(f"layer {i} failed on the request")
        if req.headers.get(f"X-Early-{i}"):
            early = Response(400 + i, Headers([(b"X-Early", str(i).encode())]))
            EVENTS.append(f"early {i}")
            return early
        return None

    def _on_response(self, req: Request, response: Response) -> None:
        i = self.index
        EVENTS.append(f"response {i}")
        response.headers.add("X-Layer", str(i))
        if req.headers.get(f"X-Fail-Response-{i}"):
            raise RuntimeError(f"layer {i} failed on the response")

    async def __call__(self, req: Request) -> Response:
        early = self._on_request(req)
        if early is not None:
            return early
        response = await self.next(req)
        self._on_response(req, response)
        return response


PROBE = add_kind(MiddlewareKind("full22Probe", Probe, ProbeMiddleware))


async def service(req: Request) -> Response:
    seen = b",".join(v for k, v in req.headers.raw if k.lower() == b"x-seen")
    EVENTS.append("service " + seen.decode())
    if req.headers.get("X-Fail-Service"):
        raise RuntimeError("service failed")
    return Response(200, Headers([(b"X-Service", b"1")]), b"ok")


def plain_chain(probes: list[Probe]) -> Handler:
    handler: Handler = service
    for probe in reversed(probes):
        handler = ProbeMiddleware(handler, probe, name=f"p{probe.index}", ctx=BuildContext())
    return handler


def built_chain(probes: list[Probe], previous: Any = None) -> tuple[Handler, MiddlewareBuilder]:
    definitions: dict[str, tuple[str, Middleware]] = {
        f"p{p.index}@file": ("file", middleware_of(p))
        for p in probes  # type: ignore[misc]
    }
    builder = MiddlewareBuilder(definitions, previous)
    return builder.wrap("r@file", "file", [f"p{p.index}@file" for p in probes], service), builder


class Channel:
    """The request pipeline's view of a protocol: keeps the response it is handed."""

    def __init__(self, handler: Handler) -> None:
        self.ctx = ConnectionContext(EntrypointSettings(), lambda req: handler, asyncio.get_running_loop())
        self.response: Response | None = None

    def send_response(self, req: Request, response: Response) -> None:
        self.response = response

    def observe(self, req: Request, status: int, aborted: bool) -> None:
        raise AssertionError("no exchange here is aborted")


def request(marks: list[str]) -> Request:
    return Request("GET", "/", Headers([(b"Host", b"example.com"), *((m.encode(), b"1") for m in marks)]))


async def outcome_direct(handler: Handler, marks: list[str]) -> tuple[Any, ...]:
    EVENTS.clear()
    req = request(marks)
    try:
        response = await handler(req)
    except RuntimeError as exc:
        return ("raised", str(exc), tuple(EVENTS), list(req.headers.raw))
    return (response.status, list(response.headers.raw), tuple(EVENTS), list(req.headers.raw))


async def outcome_pipeline(handler: Handler, marks: list[str]) -> tuple[Any, ...]:
    EVENTS.clear()
    req = request(marks)
    channel = Channel(handler)
    await handle_request(channel, req)
    response = channel.response
    assert response is not None
    return (response.status, list(response.headers.raw), tuple(EVENTS), list(req.headers.raw))


layers = st.lists(st.booleans(), min_size=1, max_size=6)


def marks_for(n: int) -> st.SearchStrategy[list[str]]:
    per_layer = st.sampled_from(["X-Early-{}", "X-Fail-Request-{}", "X-Fail-Response-{}"])
    mark = st.one_of(
        st.tuples(per_layer, st.integers(0, n - 1)).map(lambda t: t[0].format(t[1])), st.just("X-Fail-Service")
    )
    return st.lists(mark, max_size=3, unique=True)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), head_only=layers)
def test_fused_chain_matches_the_plain_onion(data: st.DataObject, head_only: list[bool]) -> None:
    probes = [Probe(index=i, head_only=flag) for i, flag in enumerate(head_only)]
    marks = data.draw(marks_for(len(probes)))

    async def compare() -> None:
        plain = plain_chain(probes)
        fused, _ = built_chain(probes)
        expected = await outcome_direct(plain, marks)
        assert await outcome_direct(fused, marks) == expected
        # Through the pipeline (the outermost fused run inlined): a failure is the pipeline's 500 either way.
        assert await outcome_pipeline(fused, marks) == await outcome_pipeline(plain, marks)

    asyncio.run(compare())


def test_runs_of_head_only_layers_are_fused_and_reused_across_generations() -> None:
    probes = [Probe(index=0, head_only=True), Probe(index=1, head_only=True), Probe(index=2, head_only=False)]
    probes += [Probe(index=3, head_only=True)]
    handler, builder = built_chain(probes)
    # p0+p1 fused outermost, around the plain p2, around the fused p3 around the service.
    assert type(handler) is FusedHead
    inner = handler.next
    assert isinstance(inner, ProbeMiddleware)
    assert inner.head_hooks is None
    assert type(inner.next) is FusedHead
    assert inner.next.next is service
    again, next_builder = built_chain(probes, builder.layers)
    assert again is handler  # every layer and fused run unchanged: the same objects serve on
    assert next_builder.layers.keys() == builder.layers.keys()


# -- the headers middleware: its head hooks do what its __call__ does ---------------------------------------------

header_configs = st.fixed_dictionaries(
    {},
    optional={
        "custom_response_headers": st.dictionaries(
            st.sampled_from(["X-Served-By", "x-frame-options", "Vary", "Server"]), st.sampled_from(["", "edge"])
        ),
        "custom_request_headers": st.dictionaries(
            st.sampled_from(["X-Script", "Host", "X-Forwarded-For", "Origin"]),
            st.sampled_from(["", "a.example", "ok"]),
        ),
        "sts_seconds": st.sampled_from([0, 31536000]),
        "force_sts_header": st.booleans(),
        "frame_deny": st.booleans(),
        "allowed_hosts": st.lists(st.sampled_from(["a.example", "b.example"]), max_size=2),
        "ssl_redirect": st.booleans(),
        "access_control_allow_origin_list": st.lists(st.sampled_from(["*", "https://o.example"]), max_size=2),
        "access_control_allow_methods": st.lists(st.sampled_from(["GET", "*"]), max_size=2),
        "access_control_allow_credentials": st.booleans(),
        "add_vary_header": st.booleans(),
    },
)
header_requests = st.tuples(
    st.sampled_from(["GET", "OPTIONS", "HEAD"]),
    st.sampled_from(["a.example", "b.example", "c.example"]),
    st.sampled_from([[], [(b"Origin", b"https://o.example")], [(b"Access-Control-Request-Method", b"PUT")]]),
    st.sampled_from(["http", "https"]),
    st.sampled_from([200, 101, 302]),
)


@settings(max_examples=200, deadline=None)
@given(options=header_configs, shape=header_requests)
def test_headers_middleware_fused_matches_its_call(options: dict[str, Any], shape: tuple[Any, ...]) -> None:
    try:
        config = HeadersConfig(**options)
        probe = HeadersMiddleware(service, config, name="h", ctx=BuildContext())
    except ValueError:
        return  # nothing configured: refused alike either way
    method, host, extra, scheme, status = shape

    async def backend(req: Request) -> Response:
        return Response(status, Headers([(b"Location", b"http://a.example/x"), (b"Vary", b"Accept")]))

    def make() -> Request:
        raw = [(b"Host", host.encode()), (b"Origin", b"https://o.example"), *extra]
        return Request(method, "/p", Headers(raw), host=host, scheme=scheme)

    async def compare() -> None:
        plain = HeadersMiddleware(backend, config, name="h", ctx=BuildContext())
        fused_layer = HeadersMiddleware(backend, config, name="h", ctx=BuildContext())
        assert fused_layer.head_hooks is not None
        fused = fuse_heads(backend, [fused_layer.head_hooks])
        a, b = make(), make()
        ra, rb = await plain(a), await fused(b)
        assert (ra.status, list(ra.headers.raw), ra.body) == (rb.status, list(rb.headers.raw), rb.body)
        assert (list(a.headers.raw), a.host) == (list(b.headers.raw), b.host)

    assert probe.head_hooks is not None
    asyncio.run(compare())


def test_headers_with_ssl_proxy_headers_keeps_its_own_coroutine() -> None:
    config = HeadersConfig(ssl_proxy_headers={"X-Forwarded-Proto": "https"}, sts_seconds=60)
    layer = HeadersMiddleware(service, config, name="h", ctx=BuildContext())
    assert layer.head_hooks is None


@pytest.fixture(autouse=True)
def _clear_events() -> None:
    EVENTS.clear()
