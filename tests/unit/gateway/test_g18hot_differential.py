"""The no-op fast path (``gateway/noop_fast.py``) against the general no-op path it replaces (``MergeService._noop``).

Two differentials: the backend request head the fast path writes in one pass is, byte for byte, the head the general
path sends (``BackendCall.request_for`` then ``http/proxy.py``'s ``build_request_head``) for any client headers,
query, body and ``input_headers``/``input_query_strings`` policy; and, against a real backend on a socket, both paths
send the same bytes upstream and give the same answer (plain, gzip we asked for, a redirect followed, a backend
error status, a closed connection, the endpoint timeout).
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Iterator
from dataclasses import dataclass, field
from time import perf_counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hanzo_edge.config.types import FrozenDict
from hanzo_edge.gateway.document import BackendModel, EndpointModel
from hanzo_edge.gateway.merge_service import MergeConfig, MergeService
from hanzo_edge.gateway.noop_fast import NoopFastPath
from hanzo_edge.http.body import StreamBody
from hanzo_edge.http.errors import UpstreamTimeout
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.http.pool import ConnectionPool, PoolRegistry, TransportOptions
from hanzo_edge.http.proxy import ServerTarget, build_request_head
from hanzo_edge.http.upstream import UpstreamConnection
from hanzo_edge.services.generation import TaskScope
from hanzo_edge.services.registry import ServiceContext

_HEADER_NAMES = [
    "Host",
    "Content-Type",
    "content-type",
    "User-Agent",
    "Accept-Encoding",
    "Accept",
    "Authorization",
    "X-Custom",
    "X-Forwarded-For",
    "X-Forwarded-Host",
    "X-Forwarded-Proto",
    "X-Real-Ip",
    "TE",
    "Connection",
    "Keep-Alive",
    "Expect",
    "traceparent",
    "Content-Length",
    "Transfer-Encoding",
    "Cookie",
]
_POLICY_NAMES = ["*", "Content-Type", "User-Agent", "accept-encoding", "X-Custom", "x-forwarded-for", "Host", "TE"]
_POLICY_NAMES += ["Expect", "traceparent", "Authorization", "Cookie"]


def _context(pools: PoolRegistry) -> ServiceContext:
    return ServiceContext(
        name="ep0-GET@gateway",
        provider="gateway",
        scope=TaskScope(),
        pools=pools,
        service=lambda name: pytest.fail("no child services"),
        transport=lambda name: TransportOptions(),
        on_activate=lambda start: None,
    )


def _service(
    pools: PoolRegistry,
    *,
    url_pattern: str,
    hosts: tuple[str, ...],
    method: str = "GET",
    input_headers: tuple[str, ...] = ("Content-Type",),
    input_query: tuple[str, ...] = (),
    timeout: float = 2.0,
    endpoint: str = "/e/{id}/{name}",
) -> MergeService:
    backend = BackendModel(url_pattern=url_pattern, hosts=hosts, method=method)
    model = EndpointModel(
        endpoint=endpoint,
        method="GET",
        backends=(backend,),
        timeout=timeout,
        cache_ttl=0.0,
        concurrent_calls=1,
        output_encoding="no-op",
        input_headers=input_headers,
        input_query_strings=input_query,
        extra_config=FrozenDict(),
    )
    return MergeService(MergeConfig(endpoint=model), _context(pools))


def _fast(service: MergeService) -> NoopFastPath:
    fast = service.fast_noop(service._noop)
    assert isinstance(fast, NoopFastPath)
    return fast


def _request(
    headers: list[tuple[str, str]], path: str, query: str, body: bytes | None, stream_length: int | None
) -> Request:
    raw = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in headers]
    content: bytes | StreamBody = body if body is not None else StreamBody(None, stream_length)
    target = f"{path}?{query}" if query else path
    return Request(
        "GET", target, Headers(raw), path=path, query=query, host="gw.example", client_ip="10.1.2.3", body=content
    )


# -- the head, byte for byte ----------------------------------------------------------------------------------------

_values = st.sampled_from(["", "v", "application/json", "gzip, br", "trailers", "100-continue", "a b"])


@settings(max_examples=400, deadline=None)
@given(
    headers=st.lists(st.tuples(st.sampled_from(_HEADER_NAMES), _values), max_size=8),
    policy=st.lists(st.sampled_from(_POLICY_NAMES), max_size=4, unique=True),
    query_policy=st.lists(st.sampled_from(["a", "b", "*"]), max_size=2, unique=True),
    url_pattern=st.sampled_from(["/a", "/a?x=1", "/u/{id}", "/u/{id}/p?y={name}&z=1", "", "/{name}", "/a?"]),
    hosts=st.lists(
        st.sampled_from(["http://127.0.0.1:9001", "http://backend.example:8080/base", "http://10.0.0.9/base/"]),
        min_size=1,
        max_size=3,
    ),
    method=st.sampled_from(["GET", "POST", "HEAD", "DELETE", "PUT"]),
    path=st.sampled_from(["/e/1/n", "/e/%2F/x", "/e/a", "/e/1/n/extra"]),
    query=st.sampled_from(["", "a=1", "b=2&a=1", "c=3", "a=1&a=0&z="]),
    body=st.one_of(st.none(), st.sampled_from([b"", b"{}", b"x" * 10])),
    stream_length=st.one_of(st.none(), st.integers(0, 100)),
)
def test_the_fast_head_is_the_general_paths_head(
    headers: list[tuple[str, str]],
    policy: list[str],
    query_policy: list[str],
    url_pattern: str,
    hosts: list[str],
    method: str,
    path: str,
    query: str,
    body: bytes | None,
    stream_length: int | None,
) -> None:
    service = _service(
        PoolRegistry(),
        url_pattern=url_pattern,
        hosts=tuple(hosts),
        method=method,
        input_headers=tuple(policy),
        input_query=tuple(query_policy),
    )
    fast = _fast(service)
    call = service._backends[0].call
    for _ in range(len(hosts) + 1):  # every host's turn
        req = _request(headers, path, query, body, stream_length)
        built = fast.head_for(req)
        if built is None:
            # Only a header the proxy would rewrite, forwarded by the policy, sends a request to the general path.
            rewritten = {"te", "connection", "keep-alive", "expect", "traceparent"}
            forwarded = {n.lower() for n in policy}
            assert any(n.lower() in rewritten and ("*" in policy or n.lower() in forwarded) for n, _ in headers)
            return
        head, chunked, asked_gzip, target, _params = built
        backend, general_gzip = call.request_for(req, service.params_of(req.path), req.body)
        general_head, general_chunked = build_request_head(
            backend, target.host_header, target.pass_host_header, target.path_prefix
        )
        assert head == general_head
        assert (chunked, asked_gzip) == (general_chunked, general_gzip)


def test_hosts_take_turns_across_both_paths() -> None:
    hosts = ("http://127.0.0.1:9001", "http://127.0.0.1:9002", "http://127.0.0.1:9003")
    service = _service(PoolRegistry(), url_pattern="/a", hosts=hosts)
    fast = _fast(service)
    seen = []
    for _ in range(6):
        built = fast.head_for(_request([("Host", "gw")], "/e/1/n", "", b"", None))
        assert built is not None
        seen.append(built[3].url)
    assert seen == [*hosts, *hosts]


def test_endpoints_the_fast_path_cannot_serve_keep_the_general_path() -> None:
    pools = PoolRegistry()
    assert (
        _service(pools, url_pattern="/a", hosts=("http://h:1",)).fast_noop(lambda r: pytest.fail("unused")) is not None
    )
    infinite = _service(pools, url_pattern="/a", hosts=("http://h:1",), timeout=float("inf"))
    assert infinite.fast_noop(infinite._noop) is None
    not_latin1 = _service(pools, url_pattern="/caf\u00e9\u2603", hosts=("http://h:1",))
    assert not_latin1.fast_noop(not_latin1._noop) is None


# -- against a real backend -----------------------------------------------------------------------------------------


@dataclass
class _Backend:
    """An HTTP/1.1 backend on a socket that records the raw bytes of each request and answers by path."""

    requests: list[bytes] = field(default_factory=list)
    writers: list[asyncio.StreamWriter] = field(default_factory=list)
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lowered = head.lower()
                body = b""
                if b"transfer-encoding: chunked" in lowered:
                    while True:
                        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                        body += (await reader.readexactly(size + 2))[:-2]
                        if size == 0:
                            break
                elif b"content-length: " in lowered:
                    length = int(lowered.split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0])
                    body = await reader.readexactly(length)
                self.requests.append(head + body)
                target = head.split(b" ", 2)[1]
                if target.startswith(b"/close"):
                    writer.close()
                    return
                if target.startswith(b"/slow"):
                    await asyncio.sleep(0.5)
                    writer.close()
                    return
                writer.write(_answer_for(target, b"accept-encoding: gzip" in lowered))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def _answer_for(target: bytes, gzip_ok: bool) -> bytes:
    if target.startswith(b"/redirect"):
        return b"HTTP/1.1 302 Found\r\nLocation: /a?from=redirect\r\nContent-Length: 0\r\n\r\n"
    if target.startswith(b"/gz") and gzip_ok:
        packed = gzip.compress(b'{"zipped":true}')
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
        return head + b"Content-Length: %d\r\n\r\n" % len(packed) + packed
    if target.startswith(b"/error"):
        return b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\ndown"
    body = b'{"path":"' + target + b'"}'
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Backend: 1\r\nContent-Length: %d\r\n\r\n" % len(body)
        + body
    )


async def _outcome(response: Response) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    body = response.body
    data = body if isinstance(body, bytes) else await body.read(1 << 20)
    return response.status, list(response.headers.raw), data


@pytest.fixture
def backend_loop() -> Iterator[tuple[asyncio.AbstractEventLoop, _Backend]]:
    loop = asyncio.new_event_loop()
    backend = _Backend()
    server = loop.run_until_complete(asyncio.start_server(backend.handle, "127.0.0.1", 0))
    backend.port = server.sockets[0].getsockname()[1]
    try:
        yield loop, backend
    finally:
        server.close()
        for writer in backend.writers:
            writer.close()
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:  # gather() of nothing would make a future of another (new) loop
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(server.wait_closed())
        loop.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    url_pattern=st.sampled_from(["/a", "/gz", "/redirect/{id}", "/error?x=1", "/close", "/a/{name}?q={id}"]),
    headers=st.lists(
        st.tuples(st.sampled_from(["Content-Type", "User-Agent", "Accept-Encoding", "X-Custom", "Accept"]), _values),
        max_size=4,
    ),
    policy=st.sampled_from([(), ("Content-Type",), ("*",), ("User-Agent", "Accept-Encoding", "X-Custom")]),
    query=st.sampled_from(["", "a=1"]),
    body=st.sampled_from([b"", b'{"k":1}']),
)
def test_both_paths_send_the_same_request_and_answer_the_same(
    backend_loop: tuple[asyncio.AbstractEventLoop, _Backend],
    url_pattern: str,
    headers: list[tuple[str, str]],
    policy: tuple[str, ...],
    query: str,
    body: bytes,
) -> None:
    loop, backend = backend_loop
    pools = PoolRegistry()
    service = _service(
        pools,
        url_pattern=url_pattern,
        hosts=(f"http://127.0.0.1:{backend.port}",),
        input_headers=policy,
        input_query=("*",),
    )
    fast = _fast(service)
    outcomes = []
    sent = []
    for handler in (fast, service._noop):
        backend.requests.clear()
        req = _request([("Host", "gw.example"), *headers], "/e/7/seven", query, body, None)
        outcomes.append(loop.run_until_complete(loop.create_task(_outcome_of(handler, req))))
        sent.append(list(backend.requests))
        assert req.server_url == f"http://127.0.0.1:{backend.port}"
    pools.close()
    assert sent[0]
    assert sent[0] == sent[1]
    assert outcomes[0] == outcomes[1]


async def _outcome_of(handler: NoopFastPath | object, req: Request) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    assert callable(handler)
    return await _outcome(await handler(req))


def test_the_endpoint_timeout_answers_500_on_both_paths(
    backend_loop: tuple[asyncio.AbstractEventLoop, _Backend],
) -> None:
    loop, backend = backend_loop
    pools = PoolRegistry()
    service = _service(pools, url_pattern="/slow", hosts=(f"http://127.0.0.1:{backend.port}",), timeout=0.1)
    fast = _fast(service)
    for handler in (fast, service._noop):
        req = _request([("Host", "gw")], "/e/1/n", "", b"", None)
        started = perf_counter()
        status, raw, data = loop.run_until_complete(loop.create_task(_outcome_of(handler, req)))
        assert perf_counter() - started < 0.45  # the timeout, not the backend's 0.5 s, ended the wait
        assert (status, data) == (500, b"")
        assert raw == [(b"X-Krakend", b"Version 2.13.8"), (b"X-Krakend-Completed", b"false")]
    pools.close()


class _SlowDialPool(ConnectionPool):
    """A pool with no idle connection whose dial never completes (a backend dropping SYNs)."""

    async def acquire(self) -> UpstreamConnection:
        await asyncio.sleep(30)
        raise AssertionError("the deadline should have ended the dial")


def test_the_deadline_bounds_the_dial_too() -> None:
    target = ServerTarget("http://127.0.0.1:9", PoolRegistry(), TransportOptions())
    target.pool = _SlowDialPool("http", "127.0.0.1", 9, TransportOptions())
    req = Request("GET", "/", Headers(), client_ip="10.0.0.1")

    async def call() -> None:
        await target.exchange(req, b"GET / HTTP/1.1\r\n\r\n", False, False, perf_counter() + 0.05)

    started = perf_counter()
    with pytest.raises(UpstreamTimeout):
        asyncio.run(call())
    assert perf_counter() - started < 5


def test_a_passed_deadline_on_a_reused_connection_is_not_retried(
    backend_loop: tuple[asyncio.AbstractEventLoop, _Backend],
) -> None:
    loop, backend = backend_loop
    pools = PoolRegistry()
    host = (f"http://127.0.0.1:{backend.port}",)
    warm = _fast(_service(pools, url_pattern="/a", hosts=host))
    slow = _fast(_service(pools, url_pattern="/slow", hosts=host, timeout=0.1))
    assert loop.run_until_complete(_outcome_of(warm, _request([("Host", "gw")], "/e/1/n", "", b"", None)))[0] == 200
    status = loop.run_until_complete(_outcome_of(slow, _request([("Host", "gw")], "/e/1/n", "", b"", None)))[0]
    assert status == 500
    # The slow request went out once, on the kept-alive connection: a timeout is no stale connection to retry.
    assert [r.split(b" ", 2)[1] for r in backend.requests] == [b"/a", b"/slow"]
    pools.close()
