"""``https://`` servers whose ALPN picks h2 are spoken to over HTTP/2 (a gRPC server over TLS proves it: gRPC has
no HTTP/1.1 mode); ``disableHTTP2`` offers only http/1.1, as Traefik's transport does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import trustme

from conftest import IngressFactory
from grpc_backends import SERVICE, GrpcBackend

pytestmark = pytest.mark.integration


def _identity(value: bytes) -> bytes:
    return value


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_backend(ca: trustme.CA) -> Iterator[GrpcBackend]:
    leaf = ca.issue_cert("127.0.0.1")
    backend = GrpcBackend(tls=(leaf.private_key_pem.bytes(), b"".join(b.bytes() for b in leaf.cert_chain_pems)))
    backend.start()
    yield backend
    backend.stop()


def _config(url: str, root: Path, **transport: object) -> dict[str, object]:
    return {
        "http": {
            "routers": {"all": {"rule": "PathPrefix(`/`)", "service": "svc"}},
            "services": {"svc": {"loadBalancer": {"servers": [{"url": url}], "serversTransport": "tls"}}},
            "serversTransports": {"tls": {"rootCAs": [str(root)], **transport}},
        }
    }


def _unary(port: int) -> bytes:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as chan:
        call = chan.unary_unary(f"/{SERVICE}/Unary", request_serializer=_identity, response_deserializer=_identity)
        return call(b"tls", timeout=10)  # type: ignore[no-any-return]


def test_grpc_to_an_https_server_goes_over_http2_negotiated_by_alpn(
    ingress: IngressFactory, tls_backend: GrpcBackend, ca: trustme.CA, tmp_path: Path
) -> None:
    root = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(root))
    proxy = ingress(_config(tls_backend.url, root))
    assert _unary(proxy.port) == b"echo:tls"
    assert tls_backend.calls == ["Unary"]


def test_disable_http2_offers_only_http11_so_a_grpc_server_cannot_be_reached(
    ingress: IngressFactory, tls_backend: GrpcBackend, ca: trustme.CA, tmp_path: Path
) -> None:
    root = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(root))
    proxy = ingress(_config(tls_backend.url, root, disableHTTP2=True))
    with pytest.raises(grpc.RpcError) as info:
        _unary(proxy.port)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE  # the proxy's 502
    assert tls_backend.calls == []
