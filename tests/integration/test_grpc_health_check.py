"""``healthCheck.mode: grpc`` through the real CLI against a ``grpc.aio`` server's standard health service."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from edge_harness import Ingress, clean_env, eventually, free_port, http_request, write_dynamic

from grpc_backends import GrpcBackend

pytestmark = pytest.mark.integration


@pytest.fixture
def grpc_backend() -> Iterator[GrpcBackend]:
    backend = GrpcBackend().start()
    yield backend
    backend.stop()


def test_a_not_serving_grpc_server_is_marked_down_and_back_up_when_serving(
    tmp_path: Path, grpc_backend: GrpcBackend
) -> None:
    grpc_backend.set_serving(True)
    health = {"mode": "grpc", "interval": "100ms", "timeout": "2s"}
    dynamic = write_dynamic(
        tmp_path / "dynamic.yml",
        {
            "http": {
                "routers": {"r": {"rule": "PathPrefix(`/`)", "service": "svc"}},
                "services": {"svc": {"loadBalancer": {"servers": [{"url": grpc_backend.url}], "healthCheck": health}}},
            }
        },
    )
    port, api_port = free_port(), free_port()
    proxy = Ingress(
        [
            f"--entrypoints.web.address=127.0.0.1:{port}",
            f"--entrypoints.traefik.address=127.0.0.1:{api_port}",
            "--api.insecure=true",
            f"--providers.file.filename={dynamic}",
        ],
        port,
        tmp_path,
        clean_env(),
    )

    def status() -> str:
        resp = http_request(api_port, path="/api/http/services/svc@file")
        assert resp.status == 200, resp
        return str(resp.json()["serverStatus"][grpc_backend.url])

    try:
        proxy.wait_ready()
        # Probes reach the health service itself (not just a TCP connect).
        eventually(lambda: grpc_backend.health_checks >= 2, message=proxy.describe)
        assert status() == "UP"
        grpc_backend.set_serving(False)
        eventually(lambda: status() == "DOWN", message=proxy.describe)
        assert http_request(port, path="/echo.Echo/Unary", headers={"Host": "x"}).status == 503
        grpc_backend.set_serving(True)
        eventually(lambda: status() == "UP", message=proxy.describe)
    finally:
        proxy.stop()


def test_a_server_without_the_health_service_or_gone_is_down(tmp_path: Path) -> None:
    # A plain h2c server that is not gRPC at all, and a port nobody listens on.
    from grpc_backends import H2Backend

    plain = H2Backend().start()
    dead_port = free_port()
    health = {"mode": "grpc", "interval": "100ms", "timeout": "1s"}
    services = {
        "plain": {"loadBalancer": {"servers": [{"url": plain.url}], "healthCheck": health}},
        "dead": {"loadBalancer": {"servers": [{"url": f"h2c://127.0.0.1:{dead_port}"}], "healthCheck": health}},
    }
    routers = {name: {"rule": f"PathPrefix(`/{name}`)", "service": name} for name in services}
    dynamic = write_dynamic(tmp_path / "dynamic.yml", {"http": {"routers": routers, "services": services}})
    port, api_port = free_port(), free_port()
    proxy = Ingress(
        [
            f"--entrypoints.web.address=127.0.0.1:{port}",
            f"--entrypoints.traefik.address=127.0.0.1:{api_port}",
            "--api.insecure=true",
            f"--providers.file.filename={dynamic}",
        ],
        port,
        tmp_path,
        clean_env(),
    )

    def status(name: str, url: str) -> str:
        resp = http_request(api_port, path=f"/api/http/services/{name}@file")
        return str(resp.json()["serverStatus"][url])

    try:
        proxy.wait_ready()
        eventually(lambda: status("plain", plain.url) == "DOWN", message=proxy.describe)
        eventually(lambda: status("dead", f"h2c://127.0.0.1:{dead_port}") == "DOWN", message=proxy.describe)
    finally:
        proxy.stop()
        plain.stop()
