"""PROXY protocol in (``entryPoints.<n>.proxyProtocol``) through the real CLI and real sockets.

The carried address is the client everywhere: the backend's ``X-Forwarded-For``/``X-Real-Ip``, a ``ClientIP`` rule,
``ipAllowList``, the ``forwardedHeaders.trustedIPs`` check and the access log. Trusted peers are picked by source
address on 127.0.0.0/8 (a client bound to 127.0.0.2 is trusted, one on 127.0.0.1 is not).
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from edge_harness import RawConn, eventually, free_port, lb_service, request_bytes

from hanzo_edge.server.proxy_header import V2_SIGNATURE, encode_v1, encode_v2

pytestmark = pytest.mark.integration

CLIENT4 = ("203.0.113.7", 40001)
CLIENT6 = ("2001:db8::7", 40002)
EDGE = ("198.51.100.1", 443)
EDGE6 = ("2001:db8::1", 443)
TRUSTED_SOURCE = "127.0.0.2"


def routes(carried_url: str, other_url: str) -> dict[str, Any]:
    """``/who`` goes to ``carried`` only for the carried clients (ClientIP), ``/guarded`` is behind ipAllowList."""
    carried = "ClientIP(`203.0.113.0/24`) || ClientIP(`2001:db8::/32`)"
    return {
        "http": {
            "routers": {
                "carried": {"rule": f"Path(`/who`) && ({carried})", "service": "carried", "priority": 100},
                "guarded": {"rule": "Path(`/guarded`)", "service": "carried", "middlewares": ["allow"]},
                "rest": {"rule": "PathPrefix(`/`)", "service": "other", "priority": 1},
            },
            "middlewares": {"allow": {"ipAllowList": {"sourceRange": ["203.0.113.0/24", "2001:db8::/32"]}}},
            "services": {"carried": lb_service(carried_url), "other": lb_service(other_url)},
        }
    }


def exchange(port: int, prefix: bytes, path: str, source: str = TRUSTED_SOURCE, **headers: str) -> int:
    """Send ``prefix`` and one request from ``source``; return the response status."""
    with connect_from(port, source) as conn:
        pairs = [("Connection", "close"), *((k.replace("_", "-"), v) for k, v in headers.items())]
        conn.send(prefix + request_bytes("GET", path, "app.test", pairs))
        return conn.read_response().status


def connect_from(port: int, source: str) -> RawConn:
    """A raw client connection to 127.0.0.1:``port`` whose socket address is ``source``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((source, 0))
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    conn = RawConn.__new__(RawConn)
    conn.sock, conn.buf = sock, b""
    return conn


def log_lines(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    return [json.loads(text) for text in log.read_text().splitlines() if text.strip()]


@pytest.fixture
def served(backend, ingress, tmp_path):
    """An ingress whose ``web`` entrypoint trusts PROXY headers from 127.0.0.2 and forwarded headers from TEST-NET-3."""
    carried, other = backend("carried"), backend("other")
    log = tmp_path / "access.log"
    proxy = ingress(
        routes(carried.url, other.url),
        f"--entrypoints.web.proxyProtocol.trustedIPs={TRUSTED_SOURCE}/32",
        "--entrypoints.web.forwardedHeaders.trustedIPs=203.0.113.0/24",
        "--accesslog=true",
        "--accesslog.format=json",
        f"--accesslog.filePath={log}",
    )
    return proxy, carried, other, log


@pytest.mark.parametrize(
    ("header", "client"),
    [
        (encode_v1(CLIENT4, EDGE), CLIENT4),
        (encode_v1(CLIENT6, EDGE6), CLIENT6),
        (encode_v2(CLIENT4, EDGE), CLIENT4),
        (encode_v2(CLIENT6, EDGE6, tlvs=b"\x04\x00\x03abc"), CLIENT6),
    ],
    ids=["v1-tcp4", "v1-tcp6", "v2-tcp4", "v2-tcp6-tlv"],
)
def test_a_trusted_header_sets_the_client_everywhere(served, header, client):
    proxy, carried, other, log = served
    assert exchange(proxy.port, header, "/who") == 200, "the ClientIP rule matched the carried address"
    seen = carried.last("/who")
    assert seen.header("X-Real-Ip") == client[0]
    assert seen.header("X-Forwarded-For") == client[0]
    assert exchange(proxy.port, header, "/guarded") == 200, "ipAllowList judged the carried address"
    assert exchange(proxy.port, b"", "/guarded") == 403, "without a header the socket address is judged"

    entries = eventually(lambda: [e for e in log_lines(log) if e.get("RequestPath") == "/who"], timeout=5)
    assert entries[0]["ClientHost"] == client[0]
    assert entries[0]["ClientPort"] == str(client[1])
    assert not other.requests_to("/who")


def test_the_forwarded_headers_trust_check_judges_the_carried_address(served):
    proxy, carried, other, _ = served
    header = encode_v1(CLIENT4, EDGE)
    assert exchange(proxy.port, header, "/who", X_Forwarded_For="192.0.2.9") == 200
    assert carried.last("/who").header("X-Forwarded-For") == f"192.0.2.9, {CLIENT4[0]}"
    # The socket peer (127.0.0.2) is not in forwardedHeaders.trustedIPs: its X-Forwarded-For is dropped.
    assert exchange(proxy.port, b"", "/plain", X_Forwarded_For="192.0.2.9") == 200
    assert other.last("/plain").header("X-Forwarded-For") == TRUSTED_SOURCE


def test_no_header_from_a_trusted_peer_is_served_with_the_socket_address(served):
    proxy, _, other, _ = served
    assert exchange(proxy.port, b"", "/who") == 200
    seen = other.last("/who")
    assert seen.header("X-Real-Ip") == TRUSTED_SOURCE
    assert seen.header("X-Forwarded-For") == TRUSTED_SOURCE


def test_a_header_from_an_untrusted_peer_is_read_and_ignored(served):
    """go-proxyproto's IGNORE policy: the header is consumed, the socket address stands, the request is served."""
    proxy, _, other, log = served
    for header in (encode_v1(CLIENT4, EDGE), encode_v2(CLIENT6, EDGE6)):
        assert exchange(proxy.port, header, "/who", source="127.0.0.1") == 200
        seen = other.last("/who")
        assert seen.header("X-Real-Ip") == "127.0.0.1"
        assert seen.header("X-Forwarded-For") == "127.0.0.1"
    assert exchange(proxy.port, encode_v1(CLIENT4, EDGE), "/guarded", source="127.0.0.1") == 403
    entries = eventually(lambda: [e for e in log_lines(log) if e.get("RequestPath") == "/guarded"], timeout=5)
    assert entries[0]["ClientHost"] == "127.0.0.1"


def test_the_local_command_and_unknown_keep_the_socket_address(served):
    proxy, _, other, _ = served
    for header in (encode_v2(None, None), encode_v1(None, None), encode_v2(None, None, tlvs=b"\x04\x00\x01x")):
        assert exchange(proxy.port, header, "/who") == 200
        assert other.last("/who").header("X-Real-Ip") == TRUSTED_SOURCE


def test_insecure_honours_every_peer(backend, ingress):
    carried, other = backend("carried"), backend("other")
    proxy = ingress(routes(carried.url, other.url), "--entrypoints.web.proxyProtocol.insecure=true")
    assert exchange(proxy.port, encode_v2(CLIENT4, EDGE), "/who", source="127.0.0.1") == 200
    assert carried.last("/who").header("X-Real-Ip") == CLIENT4[0]


def test_bad_headers_close_quietly_and_a_stall_is_cut_at_read_timeout(backend, ingress):
    carried, other = backend("carried"), backend("other")
    proxy = ingress(
        routes(carried.url, other.url),
        "--entrypoints.web.proxyProtocol.insecure=true",
        "--entrypoints.web.transport.respondingTimeouts.readTimeout=1s",
    )
    lying = V2_SIGNATURE + b"\x21\x11\x00\x04" + b"\x7f\x00\x00\x01"  # TCP4 needs 12 address bytes, says 4
    bad_family = V2_SIGNATURE + b"\x21\x51\x00\x0c" + bytes(12)
    bad_version = V2_SIGNATURE + b"\x11\x11\x00\x0c" + bytes(12)
    long_v1 = b"PROXY TCP4 " + b"1" * 120
    bad_v1 = b"PROXY TCP4 203.0.113.999 198.51.100.1 1 2\r\n"
    for garbage in (lying, bad_family, bad_version, long_v1, bad_v1):
        with connect_from(proxy.port, "127.0.0.1") as conn:
            conn.send(garbage + request_bytes("GET", "/who", "app.test"))
            assert conn.wait_closed(timeout=5) == b"", garbage

    # A header whose length promises more than arrives holds only its own connection, until readTimeout.
    stalled = connect_from(proxy.port, "127.0.0.1")
    stalled_v1 = connect_from(proxy.port, "127.0.0.1")
    with stalled, stalled_v1:
        stalled.send(V2_SIGNATURE + b"\x21\x11\x01\x00" + bytes(20))
        stalled_v1.send(b"PROXY TCP4 203.0.1")
        started = time.monotonic()
        assert exchange(proxy.port, encode_v1(CLIENT4, EDGE), "/who", source="127.0.0.1") == 200
        assert stalled.wait_closed(timeout=5) == b""
        assert stalled_v1.wait_closed(timeout=5) == b""
        assert 0.5 <= time.monotonic() - started < 5
    output = proxy.stderr()
    assert "Traceback" not in output
    assert "Error" not in output


# -- examples/production-local: HIP-68's command line, whose load balancer sends PROXY headers -----------------------

RUN_SH = Path(__file__).resolve().parents[2] / "examples" / "production-local" / "run.sh"


def production_flags(web: int, websecure: int, metrics: int, dynamic: Path) -> list[str]:
    """The ``ingress`` flags of run.sh, on free ports of 127.0.0.1 and with the test's dynamic file."""
    flags = []
    for line in RUN_SH.read_text().splitlines():
        word = line.strip().rstrip("\\").strip()
        if not word.startswith("--"):
            continue
        word = word.replace("=:8080", f"=127.0.0.1:{web}").replace("=:8443", f"=127.0.0.1:{websecure}")
        word = word.replace("=:9100", f"=127.0.0.1:{metrics}")
        if word.startswith("--providers.file.filename="):
            word = f"--providers.file.filename={dynamic}"
        flags.append(word)
    return flags


def test_the_production_example_takes_the_client_from_the_load_balancers_header(backend, ingress, tmp_path):
    whoami = backend("whoami")
    dynamic = tmp_path / "dynamic.yml"
    example = (RUN_SH.parent / "dynamic.yml").read_text()
    dynamic.write_text(example.replace("http://127.0.0.1:8081", whoami.url))
    web, websecure, metrics = free_port(), free_port(), free_port()
    flags = production_flags(web, websecure, metrics, dynamic)
    assert "--entrypoints.web.proxyProtocol.trustedIPs=10.0.0.0/8,127.0.0.1/32" in flags
    proxy = ingress(args=flags, port=web)

    with connect_from(web, "127.0.0.1") as conn:  # 127.0.0.1 stands in for the load balancer
        conn.send(encode_v1(CLIENT4, ("10.0.0.5", 80)) + request_bytes("GET", "/", "whoami.localhost"))
        assert conn.read_response().status == 200
    seen = whoami.last("/")
    assert seen.header("X-Real-Ip") == CLIENT4[0]
    assert seen.header("X-Forwarded-For") == CLIENT4[0]

    # The access log goes to stdout: its line names the carried client.
    def logged() -> list[dict[str, Any]]:
        lines = [json.loads(t) for t in proxy.stderr().splitlines() if t.startswith("{") and "ClientHost" in t]
        return [line for line in lines if line.get("RequestHost") == "whoami.localhost"]

    (line,) = eventually(logged, timeout=5)
    assert line["ClientHost"] == CLIENT4[0]
    # Without a header (a health check of the load balancer itself), the socket address stands.
    with connect_from(web, "127.0.0.1") as conn:
        conn.send(request_bytes("GET", "/", "whoami.localhost", [("Connection", "close")]))
        assert conn.read_response().status == 200
    assert whoami.last("/").header("X-Real-Ip") == "127.0.0.1"
