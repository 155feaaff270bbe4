"""The Docker provider's client and watch loop against a small Engine API server on a unix socket (the engine's
own JSON from tests/data/docker/), with a FakeClock driving the reconnect backoff."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import trustme

from fakes import FakeClock
from hanzo_edge.config.dynamic import Configuration
from hanzo_edge.config.gotemplate import parse_template
from hanzo_edge.providers.docker.build import BuildOptions
from hanzo_edge.providers.docker.client import DockerAPIError, DockerClient, parse_endpoint
from hanzo_edge.providers.docker.provider import Backoff, DockerProvider, make_ssl_context

DATA = Path(__file__).resolve().parents[2] / "data" / "docker"


def _inspect(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DATA / f"inspect_{name}.json").read_text())
    return loaded


class EngineAPI:
    """Serves the five endpoints from ``containers`` (name -> inspect JSON); ``/events`` streams what
    :meth:`emit` sends, in chunks, until :meth:`close_streams`."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.containers: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.streams: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None
        self.silent = False  # accept connections and never answer (httpClientTimeout)

    async def start(self) -> None:
        self.server = await asyncio.start_unix_server(self._serve, self.path)

    async def start_tls(self, context: ssl.SSLContext) -> int:
        """Listen on 127.0.0.1 with TLS instead (``tcp://`` + ``tls``); return the port."""
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=context)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def stop(self) -> None:
        streams = list(self.streams)
        self.close_streams()
        for writer in streams:
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        Path(self.path).unlink(missing_ok=True)

    def close_streams(self) -> None:
        for writer in self.streams:
            writer.close()
        self.streams.clear()

    def emit(self, action: str, name: str) -> None:
        line = json.dumps({"Type": "container", "Action": action, "Actor": {"Attributes": {"name": name}}}) + "\n"
        half = len(line) // 2
        for writer in self.streams:  # one event split over two chunks: the client must reassemble the line
            for part in (line[:half], line[half:]):
                data = part.encode()
                writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._answer(reader, writer)
        finally:
            if writer not in self.streams:
                writer.close()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        target = lines[0].split(" ")[1]
        headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
        self.requests.append((target, headers))
        if self.silent:
            await asyncio.sleep(3600)
        path = target.split("?", 1)[0].removeprefix("/v1.41")
        if path == "/events":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
            self.streams.append(writer)
            return
        status, body, extra = 200, b"", ""
        if path == "/_ping":
            body, extra = b"OK", "Api-Version: 1.43\r\n"
        elif path == "/version":
            body = json.dumps({"Version": "test", "ApiVersion": "1.43"}).encode()
        elif path == "/containers/json":
            body = json.dumps([{"Id": c["Id"]} for c in self.containers.values()]).encode()
        elif path.startswith("/containers/"):
            wanted = path.split("/")[2]
            found = [c for c in self.containers.values() if c["Id"] == wanted or c["Name"] == "/" + wanted]
            status, body = (200, json.dumps(found[0]).encode()) if found else (404, b'{"message":"no such container"}')
        writer.write(f"HTTP/1.1 {status} X\r\n{extra}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        await writer.drain()


def _run(tmp_path: Path, scenario: Callable[[EngineAPI], Awaitable[None]]) -> None:
    """Run ``scenario`` with an engine serving container web1 (no pytest-asyncio: one loop per test)."""

    async def main() -> None:
        api = EngineAPI(str(tmp_path / "engine.sock"))
        await api.start()
        api.containers["web1"] = _inspect("web1")
        try:
            await scenario(api)
        finally:
            await api.stop()

    asyncio.run(main())


def _provider(engine: EngineAPI, clock: FakeClock) -> DockerProvider:
    options = BuildOptions(default_rule=parse_template("Host(`{{ normalize .Name }}`)", "defaultRule"))
    client = DockerClient(f"unix://{engine.path}", username="u", password="p")
    return DockerProvider(client, options, backoff=Backoff(rand=lambda: 0.5), sleep=clock.sleep)


async def _next(snapshots: AsyncIterator[Configuration]) -> Configuration:
    return await asyncio.wait_for(anext(snapshots), 5)


async def _until(predicate: Any, what: str) -> None:
    for _ in range(500):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def test_snapshots_follow_events_and_survive_an_engine_restart(tmp_path: Path) -> None:
    async def scenario(engine: EngineAPI) -> None:
        clock = FakeClock()
        snapshots = _provider(engine, clock).watch()
        first = await _next(snapshots)
        assert list(first.http.routers) == ["web1"]
        assert engine.requests[0][0] == "/_ping"
        assert engine.requests[1][0] == "/v1.41/version"  # the engine's 1.43, capped at the client's 1.41
        assert engine.requests[1][1]["Authorization"] == "Basic dTpw"
        events = [target for target, _ in engine.requests if target.startswith("/v1.41/events")]
        assert events == ["/v1.41/events?filters=%7B%22type%22%3A%20%5B%22container%22%5D%7D"]

        engine.containers["app"] = _inspect("app_web_1")
        engine.emit("exec_start: sh", "app")  # not a lifecycle change: no rebuild
        engine.emit("start", "app")
        second = await _next(snapshots)
        assert sorted(second.http.routers) == ["web-app", "web1"]

        del engine.containers["web1"]
        engine.emit("health_status: unhealthy", "web1")  # health changes count by their prefix
        third = await _next(snapshots)
        assert list(third.http.routers) == ["web-app"]

        # The engine goes away: nothing is yielded (the last snapshot keeps serving), the provider backs off.
        await engine.stop()
        pending = asyncio.ensure_future(anext(snapshots))
        await _until(lambda: clock.sleeping == 1, "the first backoff sleep")
        assert clock.sleeps == [0.5]
        clock.advance(0.5)
        await _until(lambda: clock.sleeping == 1 and len(clock.sleeps) == 2, "the second backoff sleep")
        assert clock.sleeps == [0.5, 0.75]  # exponential (x1.5), jitter centred by rand=0.5
        assert not pending.done()

        await engine.start()  # back, with one container fewer: the next snapshot comes from the new connection
        del engine.containers["app"]
        engine.containers["web1"] = _inspect("web1")
        clock.advance(0.75)
        fourth = await asyncio.wait_for(pending, 5)
        assert list(fourth.http.routers) == ["web1"]
        await snapshots.aclose()

    _run(tmp_path, scenario)


def test_an_engine_down_at_startup_yields_an_empty_snapshot_then_the_real_one(tmp_path: Path) -> None:
    async def scenario(engine: EngineAPI) -> None:
        await engine.stop()
        clock = FakeClock()
        snapshots = _provider(engine, clock).watch()
        assert await _next(snapshots) == Configuration()  # the other providers serve meanwhile
        pending = asyncio.ensure_future(anext(snapshots))
        await _until(lambda: clock.sleeping == 1, "the backoff sleep")
        await engine.start()
        clock.advance(0.5)
        snapshot = await asyncio.wait_for(pending, 5)
        assert list(snapshot.http.routers) == ["web1"]
        await snapshots.aclose()

    _run(tmp_path, scenario)


def test_backoff_is_capped_and_jittered() -> None:
    values = iter([0.0, 1.0, 0.5, 0.5, 0.5])
    backoff = Backoff(initial=1.0, cap=2.0, factor=2.0, jitter=0.5, rand=lambda: next(values))
    assert [backoff.next_delay() for _ in range(5)] == [0.5, 3.0, 2.0, 2.0, 2.0]
    backoff.reset()
    assert backoff.attempt == 0


def test_http_client_timeout_bounds_each_call(tmp_path: Path) -> None:
    async def scenario(engine: EngineAPI) -> None:
        engine.silent = True
        client = DockerClient(f"unix://{engine.path}", timeout=0.05)
        with pytest.raises(DockerAPIError, match=r"no answer within 0.05s \(httpClientTimeout\)"):
            await client.ping()

    _run(tmp_path, scenario)


def test_a_missing_container_inspects_as_none_and_errors_carry_the_engines_message(tmp_path: Path) -> None:
    async def scenario(engine: EngineAPI) -> None:
        client = DockerClient(f"unix://{engine.path}")
        await client.ping()
        assert await client.inspect("gone") is None
        assert (await client.inspect("web1") or {})["Name"] == "/web1"

    _run(tmp_path, scenario)


def test_endpoints() -> None:
    assert parse_endpoint("unix:///var/run/docker.sock").path == "/var/run/docker.sock"
    tcp = parse_endpoint("tcp://10.0.0.1:2376")
    assert (tcp.host, tcp.port, tcp.tls) == ("10.0.0.1", 2376, False)
    assert parse_endpoint("https://docker.example").port == 2376
    for bad in ("ssh://user@host", "npipe:////./pipe/docker_engine", "unix://", "tcp://"):
        with pytest.raises(ValueError, match="endpoint"):
            parse_endpoint(bad)


def test_label_warnings_and_errors_are_logged_once_while_they_last(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario(engine: EngineAPI) -> None:
        web = engine.containers["web1"]
        web["Config"]["Labels"]["traefik.http.routers.web1.colour"] = "blue"
        bad = _inspect("app_web_1")
        bad["Config"]["Labels"]["traefik.http.routers.x.priority"] = "high"
        engine.containers["bad"] = bad
        snapshots = _provider(engine, FakeClock()).watch()
        await _next(snapshots)
        engine.containers["web2"] = {**_inspect("web1"), "Id": "2" * 64, "Name": "/web2"}
        engine.emit("start", "web2")
        await _next(snapshots)
        await snapshots.aclose()

    with caplog.at_level(logging.DEBUG, logger="hanzo_edge.providers.docker"):
        _run(tmp_path, scenario)
    warnings = [r for r in caplog.records if "colour" in r.getMessage()]
    assert [r.levelno for r in warnings] == [logging.WARNING]
    assert "traefik.http.routers.web1.colour: unknown option (ignored)" in warnings[0].getMessage()
    errors = [r for r in caplog.records if "priority" in r.getMessage()]
    assert [r.levelno for r in errors] == [logging.ERROR]
    assert (
        'container app_web_1 skipped: container /app_web_1: traefik.http.routers.x.priority: invalid integer "high"'
        in errors[0].getMessage()
    )


def test_watch_false_lists_once_and_never_opens_the_events_stream(tmp_path: Path) -> None:
    async def scenario(engine: EngineAPI) -> None:
        options = BuildOptions(default_rule=parse_template("Host(`{{ normalize .Name }}`)", "defaultRule"))
        provider = DockerProvider(DockerClient(f"unix://{engine.path}"), options, watch=False)
        snapshots = provider.watch()
        assert list((await _next(snapshots)).http.routers) == ["web1"]
        pending = asyncio.ensure_future(anext(snapshots))
        await asyncio.sleep(0.05)
        assert not pending.done()  # waits until cancelled
        pending.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pending
        assert not [target for target, _ in engine.requests if "/events" in target]

    _run(tmp_path, scenario)


def test_a_tls_endpoint_with_ca_client_certificate_and_basic_auth(tmp_path: Path) -> None:
    ca = trustme.CA()
    server_cert = ca.issue_cert("127.0.0.1")
    client_cert = ca.issue_cert("edge-client")
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    client_cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    client_cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_cert.configure_cert(server_context)
    ca.configure_trust(server_context)
    server_context.verify_mode = ssl.CERT_REQUIRED  # the engine demands the client certificate

    async def main() -> None:
        api = EngineAPI(str(tmp_path / "unused.sock"))
        api.containers["web1"] = _inspect("web1")
        port = await api.start_tls(server_context)
        try:
            context = make_ssl_context(
                str(tmp_path / "ca.pem"), str(tmp_path / "cert.pem"), str(tmp_path / "key.pem"), False
            )
            client = DockerClient(f"tcp://127.0.0.1:{port}", ssl_context=context, username="u", password="p")
            assert await client.ping() == "1.41"
            assert [c["Id"] for c in await client.containers()] == [api.containers["web1"]["Id"]]
            assert api.requests[-1][1]["Authorization"] == "Basic dTpw"
            untrusted = DockerClient(f"tcp://127.0.0.1:{port}", ssl_context=ssl.create_default_context())
            with pytest.raises(DockerAPIError, match="cannot connect to the Docker engine"):
                await untrusted.ping()
        finally:
            await api.stop()

    asyncio.run(main())
