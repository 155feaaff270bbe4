"""A small asyncio client of the Docker Engine API: the five calls the provider makes, nothing else.

``GET /_ping`` (which API version to speak), ``/version``, ``/containers/json``, ``/containers/<id>/json`` and the
``/events`` stream, over a unix socket or TCP (optionally TLS with a CA, a client certificate and
``insecureSkipVerify``; basic auth for an endpoint behind a proxy). One connection per call
(``Connection: close``): a list, a few inspects and one long-lived stream per change are all the provider needs, and
it keeps the client stateless. Responses are parsed by httptools (already the proxy's HTTP/1 parser), which also
undoes chunked encoding, so the events stream is read as newline-separated JSON.

Written here rather than taken from aiodocker: that library brings aiohttp and covers the whole API, where the
provider uses five read-only endpoints (docs/compat.md).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import ssl
import urllib.parse
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import httptools

__all__ = ["DockerAPIError", "DockerClient", "DockerEndpoint", "parse_endpoint"]

MAX_API_VERSION = (1, 41)
"""The newest Engine API version this client speaks (every field it reads exists since 1.24)."""

MAX_RESPONSE = 64 * 1024 * 1024
"""Largest non-streaming response body read (a container list of thousands of containers fits)."""

MAX_EVENT_LINE = 1024 * 1024
"""Longest line of the events stream."""


class DockerAPIError(OSError):
    """The engine could not be reached, answered with an error status, or sent something unreadable."""


@dataclass(frozen=True, slots=True)
class DockerEndpoint:
    """Where the engine listens: a unix socket ``path``, or ``host``:``port`` over TCP (``tls`` for https)."""

    path: str = ""
    host: str = ""
    port: int = 0
    tls: bool = False


def parse_endpoint(endpoint: str) -> DockerEndpoint:
    """Parse Traefik's ``providers.docker.endpoint`` (``unix:///var/run/docker.sock``, ``tcp://host:2375``,
    ``http://``/``https://host:port``).

    Raises:
        ValueError: another scheme (``npipe``, ``ssh``) or a missing host/path.
    """
    parsed = urllib.parse.urlsplit(endpoint)
    scheme = parsed.scheme.lower()
    if scheme == "unix":
        path = parsed.path or parsed.netloc
        if not path:
            raise ValueError(f"endpoint {endpoint!r}: missing socket path")
        return DockerEndpoint(path=path)
    if scheme in ("tcp", "http", "https"):
        if not parsed.hostname:
            raise ValueError(f"endpoint {endpoint!r}: missing host")
        default = 2376 if scheme == "https" else 2375
        return DockerEndpoint(host=parsed.hostname, port=parsed.port or default, tls=scheme == "https")
    raise ValueError(f"endpoint {endpoint!r}: unsupported scheme (expected unix://, tcp://, http:// or https://)")


class _Response:
    """httptools callbacks: status, headers and body chunks of one response."""

    def __init__(self, stream: bool) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.headers_done = False
        self.complete = False
        self.chunks: list[bytes] = []
        self.size = 0
        self.stream = stream

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        if not self.stream and self.size > MAX_RESPONSE:
            raise DockerAPIError(f"response larger than {MAX_RESPONSE} bytes")
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        self.complete = True


class DockerClient:
    """Calls to one engine. ``timeout`` (seconds, 0 = none) bounds each call, and the opening of the events stream.

    Args:
        endpoint: Traefik's ``endpoint`` string.
        ssl_context: for a TLS endpoint (``tls`` options or ``https://``), or None for plain TCP / unix.
        username / password: basic auth (sent when both are set, as Traefik does).
    """

    def __init__(
        self,
        endpoint: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 0.0,
        username: str = "",
        password: str = "",
    ) -> None:
        self.endpoint = parse_endpoint(endpoint)
        self.ssl_context = ssl_context
        if self.endpoint.tls and ssl_context is None:
            self.ssl_context = ssl.create_default_context()
        self.timeout = timeout or None
        self.prefix = ""
        auth = ""
        if username and password:  # as Traefik: both, on any endpoint
            token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
            auth = f"Authorization: Basic {token}\r\n"
        self._auth = auth

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            if self.endpoint.path:
                return await asyncio.open_unix_connection(self.endpoint.path, limit=MAX_EVENT_LINE)
            return await asyncio.open_connection(
                self.endpoint.host,
                self.endpoint.port,
                ssl=self.ssl_context,
                server_hostname=self.endpoint.host if self.ssl_context else None,
                limit=MAX_EVENT_LINE,
            )
        except (OSError, ssl.SSLError) as exc:
            raise DockerAPIError(f"cannot connect to the Docker engine at {self._where()}: {exc}") from None

    def _where(self) -> str:
        if self.endpoint.path:
            return f"unix://{self.endpoint.path}"
        return f"{'https' if self.ssl_context else 'tcp'}://{self.endpoint.host}:{self.endpoint.port}"

    def _request_bytes(self, target: str) -> bytes:
        host = "docker" if self.endpoint.path else f"{self.endpoint.host}:{self.endpoint.port}"
        return (
            f"GET {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: hanzo-edge\r\nAccept: application/json\r\n"
            f"{self._auth}Connection: close\r\n\r\n"
        ).encode("latin-1")

    async def _get(self, target: str) -> tuple[_Response, bytes]:
        reader, writer = await self._open()
        response = _Response(stream=False)
        parser = httptools.HttpResponseParser(response)
        try:
            writer.write(self._request_bytes(target))
            await writer.drain()
            while not response.complete:
                data = await reader.read(65536)
                if not data:
                    break
                parser.feed_data(data)
        except httptools.HttpParserError as exc:
            raise DockerAPIError(f"GET {target}: invalid HTTP response: {exc}") from None
        except OSError as exc:
            raise DockerAPIError(f"GET {target}: {exc}") from None
        finally:
            await _close(writer)
        if not response.complete:  # the engine delimits bodies (length or chunks): an early close is an error
            raise DockerAPIError(f"GET {target}: connection closed before the response ended")
        response.status = parser.get_status_code()
        return response, b"".join(response.chunks)

    async def _get_json(self, path: str) -> Any:
        target = self.prefix + path
        try:
            response, body = await asyncio.wait_for(self._get(target), self.timeout)
        except TimeoutError:
            raise DockerAPIError(f"GET {target}: no answer within {self.timeout}s (httpClientTimeout)") from None
        if response.status != 200:
            raise DockerAPIError(f"GET {target}: status {response.status}: {_message(body)}")
        try:
            return json.loads(body)
        except ValueError:
            raise DockerAPIError(f"GET {target}: the answer is not JSON") from None

    async def ping(self) -> str:
        """Check that the engine answers and choose the API version (the engine's, at most ours); return it."""
        try:
            response, body = await asyncio.wait_for(self._get("/_ping"), self.timeout)
        except TimeoutError:
            raise DockerAPIError(f"GET /_ping: no answer within {self.timeout}s (httpClientTimeout)") from None
        if response.status != 200:
            raise DockerAPIError(f"GET /_ping: status {response.status}: {_message(body)}")
        version = response.headers.get("api-version", "")
        try:
            major, minor = (int(p) for p in version.split(".", 1))
            chosen = min((major, minor), MAX_API_VERSION)
        except ValueError:
            chosen = MAX_API_VERSION
        self.prefix = f"/v{chosen[0]}.{chosen[1]}"
        return f"{chosen[0]}.{chosen[1]}"

    async def version(self) -> dict[str, Any]:
        """Return ``/version`` (``Version``, ``ApiVersion``, ...)."""
        answer = await self._get_json("/version")
        return answer if isinstance(answer, dict) else {}

    async def containers(self, *, all_states: bool = False) -> list[dict[str, Any]]:
        """Return ``/containers/json`` (running containers; every state with ``all_states``)."""
        answer = await self._get_json("/containers/json" + ("?all=1" if all_states else ""))
        return [c for c in answer if isinstance(c, dict)] if isinstance(answer, list) else []

    async def inspect(self, container_id: str) -> dict[str, Any] | None:
        """Return ``/containers/<id>/json``, or None when the container is gone (404) meanwhile."""
        try:
            answer = await self._get_json(f"/containers/{urllib.parse.quote(container_id, safe='')}/json")
        except DockerAPIError as exc:
            if "status 404" in str(exc):
                return None
            raise
        return answer if isinstance(answer, dict) else None

    async def events(self, filters: Mapping[str, list[str]]) -> AsyncIterator[dict[str, Any]]:
        """Yield the events of ``/events?filters=...`` as they come; ends when the engine closes the stream.

        The first ``__anext__`` returns only once the stream is open (the response headers came), so a caller that
        opens the stream before listing containers misses no change in between. It yields ``{}`` first, as that
        signal.

        Raises:
            DockerAPIError: the stream could not be opened, or broke.
        """
        target = f"{self.prefix}/events?filters={urllib.parse.quote(json.dumps(dict(filters)))}"
        reader, writer = await self._open()
        response = _Response(stream=True)
        parser = httptools.HttpResponseParser(response)
        pending = b""
        try:
            writer.write(self._request_bytes(target))
            await writer.drain()
            opened = asyncio.wait_for(self._until_headers(reader, parser, response), self.timeout)
            try:
                await opened
            except TimeoutError:
                raise DockerAPIError(f"GET {target}: no answer within {self.timeout}s") from None
            if response.status != 200:
                raise DockerAPIError(f"GET {target}: status {response.status}")
            yield {}
            while True:
                for chunk in response.chunks:
                    pending += chunk
                response.chunks.clear()
                *lines, pending = pending.split(b"\n")
                if len(pending) > MAX_EVENT_LINE:
                    raise DockerAPIError("events: line too long")
                for line in lines:
                    if line.strip():
                        event = _decode_event(line)
                        if event is not None:
                            yield event
                if response.complete:
                    return
                data = await reader.read(65536)
                if not data:
                    raise DockerAPIError("events: the engine closed the stream")
                parser.feed_data(data)
        except httptools.HttpParserError as exc:
            raise DockerAPIError(f"events: invalid HTTP response: {exc}") from None
        except (OSError, ssl.SSLError) as exc:
            if isinstance(exc, DockerAPIError):
                raise
            raise DockerAPIError(f"events: {exc}") from None
        finally:
            await _close(writer)

    @staticmethod
    async def _until_headers(
        reader: asyncio.StreamReader, parser: httptools.HttpResponseParser, response: _Response
    ) -> None:
        while not response.headers_done:
            data = await reader.read(65536)
            if not data:
                raise DockerAPIError("events: the engine closed the connection")
            parser.feed_data(data)
        response.status = parser.get_status_code()


async def _close(writer: asyncio.StreamWriter) -> None:
    """Close a connection and wait for it (an unawaited close leaks the transport until the loop ends)."""
    writer.close()
    with contextlib.suppress(OSError, ssl.SSLError, asyncio.CancelledError):
        await writer.wait_closed()


def _decode_event(line: bytes) -> dict[str, Any] | None:
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


def _message(body: bytes) -> str:
    try:
        answer = json.loads(body)
    except ValueError:
        return body[:200].decode("utf-8", "replace")
    if isinstance(answer, dict) and isinstance(answer.get("message"), str):
        return str(answer["message"])
    return body[:200].decode("utf-8", "replace")
