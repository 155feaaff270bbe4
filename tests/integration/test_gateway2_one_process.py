"""One process, both faces: ``ingress --providers.gateway.filename=gateway.json`` serves a Traefik ``Host`` router
from the file provider and the gateway's endpoints, with the endpoints' routers in ``/api/rawdata`` as
``<METHOD>-<path>@gateway``, below every Traefik router, gin's precedence among themselves, and reloaded when the
file changes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from edge_harness import eventually, free_port, http_request, write_dynamic
from gateway_fixtures import JsonBackend

from conftest import IngressFactory

pytestmark = pytest.mark.integration


@pytest.fixture
def json_backend() -> Iterator[JsonBackend]:
    server = JsonBackend().start()
    yield server
    server.stop()


def _gateway_file(path: Path, backend: JsonBackend, extra: list[dict[str, Any]] | None = None) -> Path:
    endpoints: list[dict[str, Any]] = [
        {"endpoint": "/v1/users/{id}", "backend": [{"url_pattern": "/user/{id}", "allow": ["id", "name"]}]},
        {"endpoint": "/v1/users/new", "backend": [{"url_pattern": "/echo/new", "allow": ["path"]}]},
        *(extra or []),
    ]
    config = {"version": 3, "port": 1, "host": [backend.url], "endpoints": endpoints}
    path.write_text(json.dumps(config))
    return path


def test_host_router_and_gateway_endpoints_in_one_process(
    tmp_path: Path, ingress: IngressFactory, json_backend: JsonBackend
) -> None:
    gateway_file = _gateway_file(tmp_path / "gateway.json", json_backend)
    dynamic = {
        "http": {
            "routers": {"site": {"rule": "Host(`site.test`)", "service": "site"}},
            "services": {"site": {"loadBalancer": {"servers": [{"url": json_backend.url}]}}},
        }
    }
    port = free_port()
    api_port = free_port()
    dynamic_file = write_dynamic(tmp_path / "dynamic.yml", dynamic)
    proc = ingress(
        args=[
            f"--entrypoints.web.address=127.0.0.1:{port}",
            f"--entrypoints.traefik.address=127.0.0.1:{api_port}",
            "--api.insecure=true",
            f"--providers.file.filename={dynamic_file}",
            f"--providers.gateway.filename={gateway_file}",
        ],
        port=port,
    )
    eventually(lambda: http_request(port, "GET", "/v1/users/7").status == 200, timeout=10, message=proc.describe)
    # The Traefik router wins on its host, whatever the path (every gateway router has a lower priority).
    site = http_request(port, "GET", "/echo/site", headers={"Host": "site.test"})
    assert site.status == 200
    assert json.loads(site.body)["path"] == "/echo/site"
    # On its host even a gateway endpoint's path goes to the Traefik router's backend (its own 404, no KrakenD).
    shadowed = http_request(port, "GET", "/v1/users/7", headers={"Host": "site.test"})
    assert shadowed.body == b'{"error": "not found"}'
    assert shadowed.header("X-Krakend") is None
    # The gateway endpoints answer on any other host, KrakenD-style (merge, allow, X-Krakend headers).
    user = http_request(port, "GET", "/v1/users/7", headers={"Host": "api.test"})
    assert json.loads(user.body) == {"id": "7", "name": "user 7"}
    assert user.header("X-Krakend") == "Version 2.13.8"
    # gin's precedence: the literal /v1/users/new beats /v1/users/{id}.
    assert json.loads(http_request(port, "GET", "/v1/users/new").body) == {"path": "/echo/new"}
    assert http_request(port, "POST", "/v1/users/7").status == 404
    api = http_request(api_port, "GET", "/api/rawdata")
    assert api.status == 200, (api.status, api.body[:300])
    raw = json.loads(api.body)
    routers = raw["routers"]
    assert "GET-/v1/users/{id}@gateway" in routers
    assert "GET-/v1/users/new@gateway" in routers
    assert "site@file" in routers
    assert routers["GET-/v1/users/{id}@gateway"]["priority"] < 0
    # The file's port (1) is ignored; a rewrite adds an endpoint without a restart.
    _gateway_file(
        gateway_file,
        json_backend,
        [{"endpoint": "/v2/ping", "backend": [{"url_pattern": "/user/ping", "allow": ["id"]}]}],
    )
    eventually(lambda: http_request(port, "GET", "/v2/ping").status == 200, timeout=10, message=proc.describe)
    assert json.loads(http_request(port, "GET", "/v2/ping").body) == {"id": "ping"}


def test_gateway_rule_and_entrypoints_options(
    tmp_path: Path, ingress: IngressFactory, json_backend: JsonBackend
) -> None:
    gateway_file = _gateway_file(tmp_path / "gateway.json", json_backend)
    port = free_port()
    other = free_port()
    ingress(
        args=[
            f"--entrypoints.web.address=127.0.0.1:{port}",
            f"--entrypoints.other.address=127.0.0.1:{other}",
            f"--providers.gateway.filename={gateway_file}",
            "--providers.gateway.entryPoints=web",
            "--providers.gateway.rule=Host(`api.test`)",
        ],
        port=port,
    )
    eventually(
        lambda: http_request(port, "GET", "/v1/users/1", headers={"Host": "api.test"}).status == 200,
        timeout=10,
        message="gateway endpoint never served",
    )
    assert http_request(port, "GET", "/v1/users/1", headers={"Host": "other.test"}).status == 404
    assert http_request(other, "GET", "/v1/users/1", headers={"Host": "api.test"}).status == 404


def _ingress_with_gateway(ingress: IngressFactory, gateway_file: Path, env: dict[str, str]) -> int:
    port = free_port()
    ingress(
        args=[f"--entrypoints.web.address=127.0.0.1:{port}", f"--providers.gateway.filename={gateway_file}"],
        port=port,
        env=env,
    )
    return port


def test_hanzo_chain_under_ingress_strips_identity_and_serves_the_host_table(
    tmp_path: Path, ingress: IngressFactory, json_backend: JsonBackend
) -> None:
    echo = {
        "endpoint": "/api/echo",
        "input_headers": ["*"],
        "backend": [{"url_pattern": "/echo/x", "allow": ["headers"]}],
    }
    gateway_file = _gateway_file(tmp_path / "gateway.json", json_backend, [echo])
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        f"routes:\n  app.test:\n    - {{prefix: /v1/chat, backend: '{json_backend.url}', rewrite: /echo/chat}}\n"
    )
    port = _ingress_with_gateway(ingress, gateway_file, {"AUTH_ENABLED": "false", "GATEWAY_ROUTES_FILE": str(routes)})
    eventually(lambda: http_request(port, "GET", "/api/echo").status == 200, timeout=10, message="not served")
    forged = http_request(port, "GET", "/api/echo", headers={"X-Hanzo-User-Id": "admin", "X-Org-Id": "evil"})
    received = json.loads(forged.body)["headers"]
    assert "x-hanzo-user-id" not in received
    assert "x-org-id" not in received
    proxied = http_request(port, "GET", "/v1/chat/completions?x=1", headers={"Host": "app.test"})
    assert proxied.status == 200
    assert json.loads(proxied.body)["path"] == "/echo/chat/completions"
    assert http_request(port, "GET", "/nothing/here").status == 404


def test_hanzo_auth_under_ingress_refuses_without_a_token(
    tmp_path: Path, ingress: IngressFactory, json_backend: JsonBackend
) -> None:
    gateway_file = _gateway_file(tmp_path / "gateway.json", json_backend)
    env = {
        "AUTH_ENABLED": "true",
        "AUTH_REQUIRE": "true",
        "AUTH_JWKS_URL": "http://127.0.0.1:9/jwks",
        "AUTH_ISSUER": "https://id.test",
    }
    port = _ingress_with_gateway(ingress, gateway_file, env)
    eventually(lambda: http_request(port, "GET", "/v1/users/1").status == 401, timeout=10, message="no 401")
    refused = http_request(port, "GET", "/v1/users/1")
    assert json.loads(refused.body) == {"error": "unauthorized", "message": "Authentication required"}
    # An API key passes unvalidated (Hanzo's rule), so the endpoint itself is there.
    assert http_request(port, "GET", "/v1/users/1", headers={"Authorization": "Bearer hk-test"}).status == 200


def test_ingress_check_reads_the_gateway_provider(tmp_path: Path, json_backend: JsonBackend) -> None:
    from edge_harness import run_cli

    good = _gateway_file(tmp_path / "gateway.json", json_backend)
    ok = run_cli(["check", "--entrypoints.web.address=127.0.0.1:0", f"--providers.gateway.filename={good}"])
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "2 routers" in ok.stdout + ok.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": 3,\n "endpoints": [{"endpoint": "/a/{id}", "backend": [{"url_pattern": "/{nope}"}]}]}')
    refused = run_cli(["check", "--entrypoints.web.address=127.0.0.1:0", f"--providers.gateway.filename={bad}"])
    assert refused.returncode == 1
    assert "$.endpoints[0].backend[0].url_pattern (line 2, column" in refused.stdout + refused.stderr
