"""KrakenD's ``dialer_keep_alive`` and ``disable_compression`` (gateway/service_keys.py): read from the file, put on
the backends' transport, and honoured where they act: TCP keep-alive options on the socket a real dial makes
(``getsockopt``), and no ``Accept-Encoding: gzip`` on the backend request of either no-op path (the general one and
the fast one, byte for byte the same head) or of a merging backend."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hanzo_edge.config.types import FrozenDict
from hanzo_edge.gateway.backend import BackendCall, HeaderPolicy, QueryPolicy
from hanzo_edge.gateway.document import BackendModel, EndpointModel, GatewayDocument, parse_document
from hanzo_edge.gateway.hanzo.settings import HanzoSettings
from hanzo_edge.gateway.merge_service import MergeConfig, MergeService
from hanzo_edge.gateway.noop_fast import NoopFastPath
from hanzo_edge.gateway.server import GatewayApp, gateway_static
from hanzo_edge.gateway.service_keys import WARNED_KEYS, ServiceKeys, changed_keys
from hanzo_edge.gateway.translate import translate_document
from hanzo_edge.http.body import StreamBody
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request
from hanzo_edge.http.pool import (
    GO_KEEP_ALIVE_COUNT,
    GO_KEEP_ALIVE_DEFAULT,
    GO_KEEP_ALIVE_INTERVAL,
    ConnectionPool,
    PoolRegistry,
    TransportOptions,
    set_keep_alive,
)
from hanzo_edge.http.proxy import build_request_head
from hanzo_edge.services.generation import TaskScope
from hanzo_edge.services.registry import ServiceContext

_LINUX_KEEPALIVE = all(hasattr(socket, name) for name in ("TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT"))


def _doc(**raw: Any) -> GatewayDocument:
    return parse_document(json.dumps({"version": 3, "endpoints": [], **raw}), {})


def _keys(**raw: Any) -> ServiceKeys:
    doc = _doc(**raw)
    assert doc.ok, doc.errors
    assert doc.service is not None
    return doc.service.keys


# -- the file and the transport -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "read", "probes_after"),
    [
        (None, None, 0.0),  # unset: Go's dialer KeepAlive 0, i.e. probes after 15 s
        ("0s", 0.0, 0.0),
        ("40s", 40.0, 40.0),
        ("1500ms", 1.5, 1.5),
        ("-1s", -1.0, -1.0),  # Go: a negative KeepAlive turns the probes off
        (-1, -1.0, -1.0),
        ("-0s", 0.0, 0.0),
    ],
)
def test_dialer_keep_alive_reaches_the_backend_transport(value: Any, read: float | None, probes_after: float) -> None:
    keys = _keys() if value is None else _keys(dialer_keep_alive=value)
    assert keys.dialer_keep_alive == read
    assert keys.backend_transport(TransportOptions()).dial_keep_alive == probes_after


@pytest.mark.parametrize("value", [True, False])
def test_disable_compression_reaches_the_backend_transport(value: bool) -> None:
    keys = _keys(disable_compression=value)
    transport = keys.backend_transport(TransportOptions(dial_timeout=3.0))
    assert transport.disable_compression is value
    assert transport.dial_timeout == 3.0  # the static flags' settings are kept


def test_the_keys_are_no_longer_warned_and_bad_values_are_located_errors() -> None:
    assert "dialer_keep_alive" not in WARNED_KEYS
    assert "disable_compression" not in WARNED_KEYS
    doc = _doc(dialer_keep_alive="-often")
    assert not doc.ok
    assert [e.path for e in doc.errors] == [("dialer_keep_alive",)]
    doc = _doc(disable_compression="yes")
    assert not doc.ok
    assert "want true or false" in doc.errors[0].message


def test_a_reload_that_changes_them_is_named_as_needing_a_restart() -> None:
    running = _keys(dialer_keep_alive="30s")
    assert changed_keys(running, _keys(dialer_keep_alive="10s", disable_compression=True)) == [
        "dialer_keep_alive",
        "disable_compression",
    ]
    assert changed_keys(running, _keys(dialer_keep_alive="30s")) == []


@pytest.mark.parametrize(
    ("running", "new"), [(None, "0s"), (None, "15s"), ("0s", "14.2s"), ("-1s", "-5m"), ("40s", "39.5s")]
)
def test_a_reload_to_the_same_probes_is_no_change(running: str | None, new: str) -> None:
    # Go's dialer: unset and 0 are 15 s, the idle is whole seconds rounded up, every negative value is "none".
    was = _keys() if running is None else _keys(dialer_keep_alive=running)
    assert changed_keys(was, _keys(dialer_keep_alive=new)) == []
    assert changed_keys(was, _keys(dialer_keep_alive="16s")) == ["dialer_keep_alive"]


# -- keep-alive on the dialled socket -------------------------------------------------------------------------------


def _keepalive_of(sock: socket.socket) -> tuple[int, int, int, int]:
    return (
        sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
        sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
        sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
        sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
    )


@pytest.mark.skipif(not _LINUX_KEEPALIVE, reason="TCP_KEEPIDLE/INTVL/CNT are Linux socket options")
@pytest.mark.parametrize(("idle", "want_idle"), [(0.0, GO_KEEP_ALIVE_DEFAULT), (40.0, 40), (1.2, 2), (0.001, 1)])
def test_set_keep_alive_is_gos_dialer(idle: float, want_idle: int) -> None:
    with socket.socket() as sock:
        set_keep_alive(sock, idle)
        assert _keepalive_of(sock) == (1, want_idle, GO_KEEP_ALIVE_INTERVAL, GO_KEEP_ALIVE_COUNT)


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    yield server
    server.close()


async def _dialled(listener: socket.socket, options: TransportOptions) -> tuple[int, int, int, int]:
    pool = ConnectionPool("http", "127.0.0.1", listener.getsockname()[1], options)
    conn = await pool.acquire()
    try:
        assert conn.transport is not None
        sock = conn.transport.get_extra_info("socket")
        return _keepalive_of(sock)
    finally:
        conn.close()
        await asyncio.sleep(0)


@pytest.mark.skipif(not _LINUX_KEEPALIVE, reason="TCP_KEEPIDLE/INTVL/CNT are Linux socket options")
def test_a_real_dial_carries_the_transports_keep_alive(listener: socket.socket) -> None:
    probed = asyncio.run(_dialled(listener, TransportOptions(dial_keep_alive=40.0)))
    assert probed == (1, 40, GO_KEEP_ALIVE_INTERVAL, GO_KEEP_ALIVE_COUNT)
    gateway_default = ServiceKeys().backend_transport(TransportOptions())
    assert asyncio.run(_dialled(listener, gateway_default))[:2] == (1, GO_KEEP_ALIVE_DEFAULT)
    # The ingress's transport: Traefik's dialer, KeepAlive 30 s.
    assert asyncio.run(_dialled(listener, TransportOptions())) == (1, 30, GO_KEEP_ALIVE_INTERVAL, GO_KEEP_ALIVE_COUNT)
    # dialer_keep_alive "-1s": no probes (the socket's default).
    assert asyncio.run(_dialled(listener, _keys(dialer_keep_alive="-1s").backend_transport(TransportOptions())))[0] == 0


# -- no gzip asked for ----------------------------------------------------------------------------------------------


def _service(
    options: TransportOptions, input_headers: tuple[str, ...], output_encoding: str = "no-op", method: str = "GET"
) -> MergeService:
    ctx = ServiceContext(
        name="ep0-GET@gateway",
        provider="gateway",
        scope=TaskScope(),
        pools=PoolRegistry(),
        service=lambda name: pytest.fail("no child services"),
        transport=lambda name: options,
        on_activate=lambda start: None,
    )
    backend = BackendModel(url_pattern="/u/{id}", hosts=("http://127.0.0.1:9001",), method=method)
    model = EndpointModel(
        endpoint="/e/{id}",
        method="GET",
        backends=(backend,),
        timeout=2.0,
        cache_ttl=0.0,
        concurrent_calls=1,
        output_encoding=output_encoding,
        input_headers=input_headers,
        input_query_strings=(),
        extra_config=FrozenDict(),
    )
    return MergeService(MergeConfig(endpoint=model), ctx)


_NAMES = ["Accept-Encoding", "User-Agent", "Content-Type", "X-Custom", "Host", "Range"]


@settings(max_examples=200, deadline=None)
@given(
    headers=st.lists(st.tuples(st.sampled_from(_NAMES), st.sampled_from(["gzip", "br", "x", ""])), max_size=6),
    policy=st.lists(
        st.sampled_from(["*", "Accept-Encoding", "Content-Type", "User-Agent", "Range"]), max_size=3, unique=True
    ),
    disable=st.booleans(),
    method=st.sampled_from(["GET", "HEAD"]),
)
def test_both_no_op_paths_ask_for_gzip_only_without_disable_compression(
    headers: list[tuple[str, str]], policy: list[str], disable: bool, method: str
) -> None:
    service = _service(TransportOptions(disable_compression=disable), tuple(policy), method=method)
    fast = service.fast_noop(service._noop)
    assert isinstance(fast, NoopFastPath)
    raw = [(n.encode(), v.encode()) for n, v in headers]
    req = Request("GET", "/e/7", Headers(raw), path="/e/7", query="", host="gw", client_ip="10.0.0.1", body=b"")
    forwarded = {n for n, _ in headers if "*" in policy or n in policy}
    ranged = any(n == "Range" and v for n, v in headers) and "Range" in forwarded
    backend, asked_gzip = service._backends[0].call.request_for(req, service.params_of(req.path), b"")
    built = fast.head_for(req)
    if built is None:
        assert "Range" in forwarded  # a forwarded Range is the general path's (the Transport's rule reads it)
    else:
        head, _chunked, fast_gzip, target, _params = built
        general_head, _ = build_request_head(backend, target.host_header, target.pass_host_header, target.path_prefix)
        assert head == general_head
        assert fast_gzip is asked_gzip
    forwarded_ae = "Accept-Encoding" in forwarded
    # Go's Transport adds the header (and decodes the answer) only for a request without one, without a Range, not
    # for HEAD, and not when disabled.
    assert asked_gzip is (not disable and not forwarded_ae and not ranged and method != "HEAD")
    head = build_request_head(backend, b"backend", False, "")[0]
    lower = head.lower()
    if asked_gzip:
        assert b"\r\naccept-encoding: gzip\r\n" in lower
    elif not forwarded_ae:
        assert b"accept-encoding" not in lower


def test_a_merging_backend_call_asks_for_no_gzip_when_disabled() -> None:
    def call(options: TransportOptions) -> BackendCall:
        return BackendCall(
            "/a",
            ["http://127.0.0.1:9001"],
            "GET",
            HeaderPolicy(["Content-Type"]),
            QueryPolicy([]),
            PoolRegistry(),
            options,
        )

    req = Request("GET", "/a", Headers([]), path="/a", query="", host="gw", client_ip="10.0.0.1", body=b"")
    asked, asked_gzip = call(TransportOptions()).request_for(req, {}, b"")
    assert asked.headers.get("accept-encoding") == "gzip"
    assert asked_gzip
    plain, plain_gzip = call(TransportOptions(disable_compression=True)).request_for(req, {}, b"")
    assert plain.headers.get("accept-encoding") is None
    assert not plain_gzip


# -- a value the kernel refuses never fails the dial ----------------------------------------------------------------


def _kernel_default(option: int) -> int:
    with socket.socket() as fresh:
        return fresh.getsockopt(socket.IPPROTO_TCP, option)


@pytest.mark.skipif(not _LINUX_KEEPALIVE, reason="TCP_KEEPIDLE/INTVL/CNT are Linux socket options")
@pytest.mark.parametrize("idle", [40_000.0, 4e9, 1e30])
def test_an_idle_the_kernel_refuses_leaves_the_dial_as_gos(idle: float) -> None:
    # Linux takes TCP_KEEPIDLE up to 32767 s; past a C int Python cannot even pass it. Go's dialer ignores the
    # error and stops there (SetKeepAliveConfig: enable, idle, interval, count, returning at the first failure).
    with socket.socket() as sock:
        set_keep_alive(sock, idle)
        assert _keepalive_of(sock) == (
            1,
            _kernel_default(socket.TCP_KEEPIDLE),
            _kernel_default(socket.TCP_KEEPINTVL),
            _kernel_default(socket.TCP_KEEPCNT),
        )


@pytest.mark.skipif(not _LINUX_KEEPALIVE, reason="TCP_KEEPIDLE/INTVL/CNT are Linux socket options")
def test_a_huge_dialer_keep_alive_still_dials(listener: socket.socket) -> None:
    huge = _keys(dialer_keep_alive="1000000h").backend_transport(TransportOptions())
    assert asyncio.run(_dialled(listener, huge))[0] == 1


# -- the Hanzo chain's own upstream calls ---------------------------------------------------------------------------


async def _host_table_dial(tmp_path: Path, keys: ServiceKeys) -> tuple[int, int, int, int]:
    """The keep-alive options of the connection the gateway's host table dials for one request."""

    writers: list[asyncio.StreamWriter] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    routes = tmp_path / "routes.yaml"
    routes.write_text(f"routes:\n  app.test:\n    - {{prefix: /, backend: 'http://127.0.0.1:{port}'}}\n")
    doc = parse_document(json.dumps({"version": 3, "endpoints": []}), {})
    settings = HanzoSettings(auth_enabled=False, routes_file=str(routes))
    app = GatewayApp(gateway_static("127.0.0.1", 0), translate_document(doc), settings, service_keys=keys)
    assert app.hanzo is not None
    try:
        handler = app.hanzo.wrap(lambda req: pytest.fail("the host table answers"))
        req = Request(
            "GET", "/x", Headers([(b"Host", b"app.test")]), path="/x", query="", host="app.test", client_ip="10.0.0.1"
        )
        response = await asyncio.wait_for(handler(req), 10)
        assert response.status == 204
        await response.body.read() if isinstance(response.body, StreamBody) else None
        dialled = [pool for pool in app.pools._pools.values() if pool.port == port]
        assert len(dialled) == 1
        idle = await asyncio.wait_for(dialled[0].acquire(), 10)
        assert idle.transport is not None
        probes = _keepalive_of(idle.transport.get_extra_info("socket"))
        idle.close()
        return probes
    finally:
        app.pools.close()
        server.close()
        await server.wait_closed()
        for writer in writers:
            writer.close()
            await writer.wait_closed()


@pytest.mark.skipif(not _LINUX_KEEPALIVE, reason="TCP_KEEPIDLE/INTVL/CNT are Linux socket options")
def test_the_host_table_dials_with_dialer_keep_alive(tmp_path: Path) -> None:
    # Hanzo's host proxies are Go ReverseProxies on http.DefaultTransport, which Lura's router replaces at start
    # (InitHTTPDefaultTransport): their dials carry dialer_keep_alive as the KrakenD backends' do.
    tuned = asyncio.run(_host_table_dial(tmp_path, _keys(dialer_keep_alive="40s")))
    assert tuned == (1, 40, GO_KEEP_ALIVE_INTERVAL, GO_KEEP_ALIVE_COUNT)
    unset = asyncio.run(_host_table_dial(tmp_path, ServiceKeys()))
    assert unset[:2] == (1, GO_KEEP_ALIVE_DEFAULT)
    assert asyncio.run(_host_table_dial(tmp_path, _keys(dialer_keep_alive="-1s")))[0] == 0
