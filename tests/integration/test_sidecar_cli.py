"""Hanzo's ingress sidecar through the real CLI: ``gateway ingress -c ingress.json`` in front of real backends, and
``gateway ingress check`` on the data quirks (hanzo-gateway.md §1.9)."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from edge_backend import Backend
from edge_harness import GATEWAY, RawConn, clean_env, eventually, free_port, http_request, request_bytes
from gateway_fixtures import JsonBackend
from hanzo_fixtures import ISSUER, IamKeys

ROOT = Path(__file__).resolve().parents[2]


class Sidecar:
    """A ``gateway ingress`` process."""

    def __init__(self, config: Path, env: dict[str, str]) -> None:
        self.log = config.with_suffix(".log")
        self._log = self.log.open("wb")
        self.proc = subprocess.Popen(
            [GATEWAY, "ingress", "-c", str(config)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=config.parent,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        return self.proc.returncode


def _sidecar_env(keys: IamKeys) -> dict[str, str]:
    env = {k: v for k, v in clean_env().items() if not k.startswith(("AUTH_", "BILLING_", "GATEWAY_", "ZAP_"))}
    env.update({"AUTH_JWKS_URL": keys.url, "AUTH_ISSUER": ISSUER})
    return env


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root_backend = JsonBackend().start()
    api_backend = JsonBackend().start()
    keys = IamKeys()
    ws = Backend("ws").start()
    tmp = tmp_path_factory.mktemp("sidecar")
    port = free_port()
    refused = f"http://127.0.0.1:{free_port()}"
    config = {
        "listen": f"127.0.0.1:{port}",
        "health_path": "/__health",
        "routes": [
            {
                "host": "app.test",
                "backends": [
                    {"path": "/", "url": root_backend.url},
                    {"path": "/echo/api", "url": api_backend.url},
                    {"path": "/echo/api", "url": refused},  # repeated: the first listed wins
                ],
            },
            {"host": "only-api.test", "backends": [{"path": "/echo/api", "url": api_backend.url}]},
            {"host": "dup.test", "backends": [{"path": "/", "url": refused}]},
            {"host": "dup.test", "backends": [{"path": "/", "url": api_backend.url}]},  # the later entry wins
            {"host": "down.test", "backends": [{"path": "/", "url": refused}]},
            {"host": "secure.test", "auth": True, "backends": [{"path": "/", "url": root_backend.url}]},
            {"host": "regex.test", "backends": [{"path": "/sync(/|$)(.*)", "url": api_backend.url}]},
            {"host": "ws.test", "backends": [{"path": "/", "url": ws.url}]},
        ],
    }
    path = tmp / "ingress.json"
    path.write_text(json.dumps(config, indent=2))
    sidecar = Sidecar(path, _sidecar_env(keys))

    def healthy() -> bool:
        if sidecar.proc.poll() is not None:
            raise AssertionError(f"sidecar exited: {sidecar.output()}")
        return http_request(port, "GET", "/__health").status == 200

    try:
        eventually(healthy, timeout=15, message=sidecar.output)
        yield {"port": port, "root": root_backend, "api": api_backend, "keys": keys, "sidecar": sidecar, "path": path}
    finally:
        sidecar.stop()
        root_backend.stop()
        api_backend.stop()
        keys.stop()
        ws.stop()


def _get(world: dict[str, Any], path: str, host: str, headers: dict[str, str] | None = None) -> Any:
    return http_request(world["port"], "GET", path, {"Host": host, **(headers or {})})


def test_health_answers_on_any_host(world: dict[str, Any]) -> None:
    for host in ("app.test", "unknown.test"):
        response = _get(world, "/__health", host)
        assert response.status == 200
        assert response.json() == {"status": "ok"}


def test_longest_prefix_wins_and_the_path_is_unchanged(world: dict[str, Any]) -> None:
    root, api = world["root"], world["api"]

    assert _get(world, "/echo/api/v1?x=1", "app.test").json()["path"] == "/echo/api/v1"
    assert api.last("/echo/api/v1")[1] == "/echo/api/v1?x=1"
    assert _get(world, "/echo/apix", "app.test").status == 200  # a plain prefix: /echo/api matches /echo/apix
    assert api.last("/echo/apix")[1] == "/echo/apix"
    assert _get(world, "/echo/other", "app.test").status == 200
    assert root.last("/echo/other")[1] == "/echo/other"


def test_the_original_host_is_kept_with_forwarded_host_and_real_ip(world: dict[str, Any]) -> None:
    seen = _get(world, "/echo/host", "app.test:8080").json()["headers"]
    assert seen["host"] == ["app.test:8080"]
    assert seen["x-forwarded-host"] == ["app.test"]
    assert seen["x-real-ip"] == ["127.0.0.1"]

    seen = _get(world, "/echo/xff", "app.test", {"X-Forwarded-For": "203.0.113.7, 10.0.0.1"}).json()["headers"]
    assert seen["x-real-ip"] == ["203.0.113.7"]  # the first X-Forwarded-For entry, as Hanzo's sidecar
    seen = _get(world, "/echo/xri", "app.test", {"X-Real-IP": "198.51.100.2"}).json()["headers"]
    assert seen["x-real-ip"] == ["198.51.100.2"]
    # Go's ReverseProxy sets no X-Forwarded-Proto/-Port/-Server (our entrypoint's, Traefik's, are dropped).
    assert {"x-forwarded-proto", "x-forwarded-port", "x-forwarded-server"}.isdisjoint(seen), seen


def test_unknown_host_and_unmatched_prefix_are_404_text(world: dict[str, Any]) -> None:
    for host, path in (("nowhere.test", "/echo/x"), ("only-api.test", "/echo/other")):
        response = _get(world, path, host)
        assert response.status == 404
        assert response.body == b"404 Not Found\n"
        assert response.header("Content-Type") == "text/plain; charset=utf-8"


def test_a_duplicate_host_is_served_by_its_later_entry(world: dict[str, Any]) -> None:
    response = _get(world, "/echo/dup", "dup.test")
    assert response.status == 200
    assert world["api"].last("/echo/dup")[1] == "/echo/dup"


def test_an_unreachable_backend_is_502(world: dict[str, Any]) -> None:
    response = _get(world, "/echo/x", "down.test")
    assert response.status == 502
    assert response.body == b"502 Bad Gateway\n"


def test_a_regex_path_is_a_plain_prefix_that_never_matches(world: dict[str, Any]) -> None:
    assert _get(world, "/sync/abc", "regex.test").status == 404


def test_forged_identity_headers_never_reach_a_backend(world: dict[str, Any]) -> None:
    seen = _get(world, "/echo/forged", "app.test", {"X-User-Id": "mallory", "X-Hanzo-Org-Id": "evil"}).json()
    assert "x-user-id" not in seen["headers"]
    assert "x-hanzo-org-id" not in seen["headers"]


def test_auth_host_without_a_token_is_401_with_a_basic_challenge(world: dict[str, Any]) -> None:
    response = _get(world, "/echo/secure", "secure.test")
    assert response.status == 401
    assert response.header("WWW-Authenticate") == 'Basic realm="secure.test"'
    assert response.json() == {"error": "unauthorized", "message": "Authentication required"}


def test_auth_host_with_a_bad_token_is_401(world: dict[str, Any]) -> None:
    keys: IamKeys = world["keys"]
    forged = keys.token(key=keys.other)
    response = _get(world, "/echo/secure", "secure.test", {"Authorization": f"Bearer {forged}"})
    assert response.status == 401
    assert response.json()["message"] == "Invalid token"
    assert response.header("WWW-Authenticate") == 'Basic realm="secure.test"'


@pytest.mark.parametrize("scheme", ["bearer", "basic"])
def test_auth_host_with_an_iam_token_injects_identity_and_drops_the_credential(
    world: dict[str, Any], scheme: str
) -> None:
    token = world["keys"].token({"sub": "alice", "owner": "hanzo", "email": "alice@hanzo.ai"})
    if scheme == "bearer":
        authorization = f"Bearer {token}"
    else:
        authorization = "Basic " + base64.b64encode(f"alice:{token}".encode()).decode()
    response = _get(
        world, f"/echo/secure/{scheme}", "secure.test", {"Authorization": authorization, "X-User-Id": "mallory"}
    )
    assert response.status == 200
    seen = response.json()["headers"]
    assert seen["x-user-id"] == ["alice"]
    assert seen["x-org-id"] == ["hanzo"]
    assert seen["x-user-email"] == ["alice@hanzo.ai"]
    assert "authorization" not in seen
    assert seen["host"] == ["secure.test"]


def test_a_websocket_upgrade_is_tunnelled(world: dict[str, Any]) -> None:
    from edge_backend import WS_GREETING

    with RawConn(world["port"]) as conn:
        conn.send(
            request_bytes(
                "GET",
                "/ws",
                "ws.test",
                [
                    ("Connection", "Upgrade"),
                    ("Upgrade", "websocket"),
                    ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                    ("Sec-WebSocket-Version", "13"),
                ],
            )
        )
        status, _, _ = conn.read_head()
        assert status == 101
        assert conn.read_until(WS_GREETING).endswith(WS_GREETING)
        conn.send(b"ping")
        assert conn.read_until(b"ping").endswith(b"ping")


# -- check --------------------------------------------------------------------------------------------------------
def _run(args: list[str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GATEWAY, *args], capture_output=True, text=True, timeout=timeout, env=clean_env(), stdin=subprocess.DEVNULL
    )


def test_check_reports_regex_paths_duplicate_hosts_and_repeated_paths(world: dict[str, Any]) -> None:
    result = _run(["ingress", "check", "-c", str(world["path"])])

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "WARNING $.routes[6].backends[0].path (line" in out
    assert "'/sync(/|$)(.*)' is an nginx-style regular expression" in out
    assert "WARNING $.routes[3].host (line" in out
    assert "host 'dup.test' is also routes[2]" in out
    assert "WARNING $.routes[0].backends[2].path" in out
    assert "repeats backends[1]" in out
    assert "Syntax OK!" in out
    # `--check` is the same command
    assert _run(["ingress", "--check", "-c", str(world["path"])]).stdout == out


def test_the_running_sidecar_logs_the_same_warnings(world: dict[str, Any]) -> None:
    output = world["sidecar"].output()
    assert "nginx-style regular expression" in output
    assert "host 'dup.test' is also routes[2]" in output


def test_check_and_run_refuse_errors_with_their_location(tmp_path: Path) -> None:
    bad = tmp_path / "ingress.json"
    port = free_port()
    bad.write_text(
        json.dumps(
            {
                "listen": f"127.0.0.1:{port}",
                "routes": [{"host": "a.test", "backends": [{"path": "/", "url": "ftp://x"}]}],
            },
            indent=2,
        )
    )
    checked = _run(["ingress", "check", "-c", str(bad)])
    assert checked.returncode == 1
    assert "ERROR $.routes[0].backends[0].url (line 9, column 18)" in checked.stderr
    assert "'ftp://x' is not an http:// or https:// URL" in checked.stderr
    assert "Syntax OK" not in checked.stdout

    served = _run(["ingress", "-c", str(bad)])
    assert served.returncode == 1
    assert "$.routes[0].backends[0].url" in served.stderr

    broken = tmp_path / "broken.json"
    broken.write_text('{"routes": [\n  {"host": }\n]}')
    result = _run(["ingress", "check", "-c", str(broken)])
    assert result.returncode == 1
    assert "line 2, column" in result.stderr


def test_the_example_file_checks_clean(tmp_path: Path) -> None:
    result = _run(["ingress", "check", "-c", str(ROOT / "examples" / "hanzo" / "sidecar" / "ingress.json")])
    assert result.returncode == 0, result.stderr
    assert "Syntax OK!" in result.stdout
    assert "nginx-style regular expression" in result.stdout  # the example keeps one of Hanzo's quirks, reported
