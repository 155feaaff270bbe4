"""A small asynchronous Kubernetes API client on asyncio streams: list, get, watch, status writes.

Why ours and not lightkube or kubernetes_asyncio (docs/compat.md says the same): the providers need raw JSON
objects (orjson dicts, no generated model classes to build for 5,000 EndpointSlices), a watch whose every failure
mode is ours to handle (an ``ERROR`` event, a stream cut mid-line, a refused connection: each becomes one typed
exception, and the retry policy with its injected clock lives in `watch.py`, not inside a library loop), and no
HTTP stack beyond the standard library (aiohttp or httpx + anyio would be the heaviest dependencies of the
process). The protocol surface is small: HTTP/1.1 GET/PUT/PATCH, ``Content-Length`` or chunked bodies, JSON lines.

Connections: a request that is not a watch borrows an idle keep-alive connection (or dials one); a watch owns its
connection until the stream ends. TLS verifies the API server against the connection's CA (or the system roots),
and presents the client certificate when the kubeconfig has one.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import socket
import ssl
import urllib.request
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson

from hanzo_edge.providers.kubernetes.kubeconfig import KubeConnection, resolve_connection, ssl_context
from hanzo_edge.providers.kubernetes.resources import Resource

__all__ = [
    "KubeApiError",
    "KubeClient",
    "KubeConnection",
    "KubeError",
    "KubeTransportError",
    "WatchEvent",
    "resolve_connection",
]

logger = logging.getLogger("hanzo_edge.providers.kubernetes")

JSONObject = dict[str, Any]

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 512 * 1024 * 1024
"""A list response larger than this is refused (5,000 EndpointSlices are ~5 MiB): the API server is trusted, but
a misconfigured endpoint (some other server) must not exhaust memory."""
MAX_WATCH_LINE_BYTES = 16 * 1024 * 1024
"""One watch event (one object; etcd caps objects at ~1.5 MiB by default)."""
MAX_IDLE_CONNECTIONS = 4


class KubeError(Exception):
    """Any failure to get an answer from the API server."""


class KubeTransportError(KubeError):
    """No usable answer: connection refused or reset, TLS failure, timeout, a stream cut mid-message."""


class KubeApiError(KubeError):
    """The API server answered with an error ``Status`` (an HTTP error, or a watch ``ERROR`` event)."""

    def __init__(self, code: int, reason: str, message: str, what: str = "") -> None:
        self.code = code
        self.reason = reason
        self.message = message
        self.what = what
        super().__init__(f"{what}: {code} {reason}: {message}" if what else f"{code} {reason}: {message}")

    @property
    def expired(self) -> bool:
        """410 Gone / Expired: the resourceVersion asked for is compacted away; list again."""
        return self.code == 410

    @property
    def not_found(self) -> bool:
        return self.code == 404

    @classmethod
    def from_status(cls, status: Any, http_code: int, what: str) -> KubeApiError:
        if isinstance(status, dict) and status.get("kind") == "Status":
            code = status.get("code")
            return cls(
                code if isinstance(code, int) else http_code,
                str(status.get("reason") or ""),
                str(status.get("message") or ""),
                what,
            )
        return cls(http_code, "", "", what)


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One watch event: ``ADDED``, ``MODIFIED``, ``DELETED`` or ``BOOKMARK`` and the object (a dict).

    ``ERROR`` events never reach the caller: they are raised as `KubeApiError`.
    """

    type: str
    object: JSONObject

    @property
    def resource_version(self) -> str:
        metadata = self.object.get("metadata")
        return str(metadata.get("resourceVersion") or "") if isinstance(metadata, dict) else ""


class _NoResponse(KubeTransportError):
    """Nothing at all came back: on a pooled connection, the server closed it while idle (safe to retry)."""


class _Conn:
    """One HTTP/1.1 connection to the API server."""

    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def close(self) -> None:
        self.writer.close()


class _Response:
    __slots__ = ("body_mode", "conn", "headers", "remaining", "status")

    def __init__(self, conn: _Conn, status: int, headers: dict[str, str]) -> None:
        self.conn = conn
        self.status = status
        self.headers = headers
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self.body_mode = "chunked"
            self.remaining = 0
        elif "content-length" in headers:
            self.body_mode = "length"
            try:
                self.remaining = int(headers["content-length"])
            except ValueError:
                raise KubeTransportError(f"bad Content-Length {headers['content-length']!r}") from None
            if self.remaining < 0:
                raise KubeTransportError(f"bad Content-Length {headers['content-length']!r}")
        else:
            self.body_mode = "eof"
            self.remaining = 0

    @property
    def reusable(self) -> bool:
        return self.body_mode != "eof" and self.headers.get("connection", "").lower() != "close"

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body's bytes as they arrive; a body that ends early raises `KubeTransportError`."""
        reader = self.conn.reader
        try:
            if self.body_mode == "length":
                while self.remaining > 0:
                    data = await reader.read(min(self.remaining, 256 * 1024))
                    if not data:
                        raise KubeTransportError("connection closed before the end of the response body")
                    self.remaining -= len(data)
                    yield data
            elif self.body_mode == "chunked":
                while True:
                    line = await reader.readuntil(b"\r\n")
                    size_text = line.split(b";", 1)[0].strip()
                    try:
                        size = int(size_text, 16)
                    except ValueError:
                        raise KubeTransportError(f"bad chunk size {size_text!r}") from None
                    if size == 0:
                        # Trailers (none expected) end with an empty line.
                        while (await reader.readuntil(b"\r\n")) != b"\r\n":
                            pass
                        return
                    yield await reader.readexactly(size)
                    await reader.readexactly(2)
            else:
                while data := await reader.read(256 * 1024):
                    yield data
        except asyncio.IncompleteReadError:
            raise KubeTransportError("connection closed in the middle of the response body") from None
        except asyncio.LimitOverrunError:
            raise KubeTransportError("response framing line too long") from None
        except (ConnectionError, ssl.SSLError, OSError) as exc:
            raise KubeTransportError(f"connection lost: {exc}") from None

    async def read_all(self, limit: int = MAX_BODY_BYTES) -> bytes:
        parts: list[bytes] = []
        size = 0
        async for chunk in self.chunks():
            size += len(chunk)
            if size > limit:
                raise KubeTransportError(f"response body larger than {limit} bytes")
            parts.append(chunk)
        return b"".join(parts)


class KubeClient:
    """The API calls the providers make. Every method raises `KubeApiError` or `KubeTransportError` on failure."""

    def __init__(
        self,
        connection: KubeConnection,
        *,
        connect_timeout: float = 10.0,
        request_timeout: float = 60.0,
        user_agent: str = "hanzo-edge",
    ) -> None:
        self.connection = connection
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        split = urlsplit(connection.server)
        self._tls = split.scheme == "https"
        self._host = split.hostname or ""
        self._port = split.port or (443 if self._tls else 80)
        self._base_path = split.path.rstrip("/")
        self._host_header = split.netloc
        self._ssl: ssl.SSLContext | None = None
        self._user_agent = user_agent
        self._idle: list[_Conn] = []
        self._closed = False
        _warn_about_proxies(connection.server, split.hostname or "")

    # -- the API ---------------------------------------------------------------------------------------------

    async def list(
        self,
        resource: Resource,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> tuple[list[JSONObject], str]:
        """List a collection: its items and the list's ``resourceVersion`` (where a watch starts)."""
        query = _selectors(label_selector, field_selector)
        document = await self._json("GET", resource.path(namespace), query, what=f"list {resource}")
        items = document.get("items") or []
        metadata = document.get("metadata") or {}
        if not isinstance(items, list) or not isinstance(metadata, dict):
            raise KubeTransportError(f"list {resource}: not a list response")
        # List items carry no kind/apiVersion; fill them in so every object looks the same as a watched one.
        for item in items:
            if isinstance(item, dict):
                item.setdefault("kind", resource.kind)
                item.setdefault("apiVersion", resource.api_version)
        return [item for item in items if isinstance(item, dict)], str(metadata.get("resourceVersion") or "")

    async def get(self, resource: Resource, namespace: str | None, name: str) -> JSONObject:
        return await self._json("GET", resource.path(namespace, name), {}, what=f"get {resource} {namespace}/{name}")

    async def replace_status(self, resource: Resource, namespace: str | None, name: str, obj: JSONObject) -> JSONObject:
        """PUT the object's ``status`` subresource (the API server takes only ``status`` from it)."""
        return await self._json(
            "PUT",
            resource.path(namespace, name, "status"),
            {},
            body=orjson.dumps(obj),
            what=f"update status of {resource} {namespace}/{name}",
        )

    async def watch(
        self,
        resource: Resource,
        resource_version: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_seconds: int = 300,
        allow_bookmarks: bool = True,
        idle_timeout: float | None = None,
    ) -> AsyncIterator[WatchEvent]:
        """Stream watch events from `resource_version` until the server ends the watch (``timeoutSeconds``).

        An ``ERROR`` event raises `KubeApiError` (410 Expired: list again); a stream cut mid-event, or silent
        for `idle_timeout` seconds (default: ``timeout_seconds`` + 30), raises `KubeTransportError`. A clean
        end returns.
        """
        query = {"watch": "true", "resourceVersion": resource_version, "timeoutSeconds": str(timeout_seconds)}
        if allow_bookmarks:
            query["allowWatchBookmarks"] = "true"
        query.update(_selectors(label_selector, field_selector))
        what = f"watch {resource}"
        idle = idle_timeout if idle_timeout is not None else timeout_seconds + 30.0
        conn = await self._dial()
        try:
            response = await self._exchange(conn, "GET", resource.path(namespace), query, None, self.request_timeout)
            if response.status != 200:
                raise await self._error(response, what)
            # Pieces of an event not yet ended by a newline, joined once the newline comes (never re-copied per chunk).
            pending: list[bytes] = []
            pending_size = 0
            chunks = response.chunks()
            while True:
                try:
                    async with asyncio.timeout(idle):
                        chunk = await anext(chunks)
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    raise KubeTransportError(f"{what}: no data for {idle:g}s") from None
                if b"\n" not in chunk:
                    pending.append(chunk)
                    pending_size += len(chunk)
                    if pending_size > MAX_WATCH_LINE_BYTES:
                        raise KubeTransportError(f"{what}: one event larger than {MAX_WATCH_LINE_BYTES} bytes")
                    continue
                pending.append(chunk)
                *lines, rest = b"".join(pending).split(b"\n")
                pending, pending_size = ([rest], len(rest)) if rest else ([], 0)
                for line in lines:
                    if line.strip():
                        yield _event(line, what)
            buffer = b"".join(pending)
            if buffer.strip():
                # Whatever is left must be one whole event (no trailing newline); half an event is a cut stream.
                try:
                    event = _event(buffer, what)
                except KubeTransportError:
                    raise KubeTransportError(f"{what}: stream cut in the middle of an event") from None
                yield event
        except (ConnectionError, ssl.SSLError, OSError) as exc:
            raise KubeTransportError(f"{what}: connection lost: {exc}") from None
        finally:
            conn.close()

    async def close(self) -> None:
        """Close the idle connections (a watch closes its own when its iterator ends)."""
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
        for conn in idle:
            # Let the TLS close finish, bounded: a server that never answers close_notify must not hold us up.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await conn.writer.wait_closed()

    # -- HTTP ------------------------------------------------------------------------------------------------

    async def _json(
        self, method: str, path: str, query: Mapping[str, str], *, body: bytes | None = None, what: str
    ) -> JSONObject:
        response, data = await self._request(method, path, query, body, what)
        if response.status >= 300:
            status = _loads_or_none(data)
            if response.status == 401:
                self.connection.token.invalidate()
            raise KubeApiError.from_status(status, response.status, what)
        document = _loads_or_none(data)
        if not isinstance(document, dict):
            raise KubeTransportError(f"{what}: the answer is not a JSON object")
        return document

    async def _request(
        self, method: str, path: str, query: Mapping[str, str], body: bytes | None, what: str
    ) -> tuple[_Response, bytes]:
        # A pooled connection the server closed while idle fails before any answer: retry once on a new one.
        for attempt in range(2):
            reused = bool(self._idle) and attempt == 0
            conn = self._idle.pop() if reused else await self._dial()
            try:
                async with asyncio.timeout(self.request_timeout):
                    response = await self._exchange(conn, method, path, query, body, None)
                    data = await response.read_all()
            except KubeTransportError as exc:
                conn.close()
                if reused and isinstance(exc, _NoResponse):
                    continue
                raise KubeTransportError(f"{what}: {exc}") from None
            except TimeoutError:
                conn.close()
                raise KubeTransportError(f"{what}: no answer within {self.request_timeout:g}s") from None
            except BaseException:
                conn.close()
                raise
            if response.reusable and not self._closed and len(self._idle) < MAX_IDLE_CONNECTIONS:
                self._idle.append(conn)
            else:
                conn.close()
            return response, data
        raise KubeTransportError(f"{what}: connection closed before the response")  # pragma: no cover

    async def _dial(self) -> _Conn:
        if self._tls and self._ssl is None:
            self._ssl = ssl_context(self.connection)
        server_hostname = (self.connection.tls_server_name or self._host) if self._tls else None
        try:
            async with asyncio.timeout(self.connect_timeout):
                reader, writer = await asyncio.open_connection(
                    self._host,
                    self._port,
                    ssl=self._ssl if self._tls else None,
                    server_hostname=server_hostname,
                    limit=MAX_HEAD_BYTES,
                )
        except TimeoutError:
            raise KubeTransportError(f"connect to {self.connection.server}: timed out") from None
        except (OSError, ssl.SSLError) as exc:
            raise KubeTransportError(f"connect to {self.connection.server}: {exc}") from None
        _keepalive(writer.get_extra_info("socket"))
        return _Conn(reader, writer)

    def _head(self, method: str, path: str, query: Mapping[str, str], body: bytes | None) -> bytes:
        target = self._base_path + path + (f"?{urlencode(query)}" if query else "")
        lines = [
            f"{method} {target} HTTP/1.1",
            f"Host: {self._host_header}",
            f"User-Agent: {self._user_agent}",
            "Accept: application/json",
        ]
        token = self.connection.token.token()
        if token:
            lines.append(f"Authorization: Bearer {token}")
        elif self.connection.username:
            basic = base64.b64encode(f"{self.connection.username}:{self.connection.password}".encode()).decode()
            lines.append(f"Authorization: Basic {basic}")
        if body is not None:
            lines.append("Content-Type: application/json")
            lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def _exchange(
        self,
        conn: _Conn,
        method: str,
        path: str,
        query: Mapping[str, str],
        body: bytes | None,
        head_timeout: float | None,
    ) -> _Response:
        try:
            async with asyncio.timeout(head_timeout):
                try:
                    conn.writer.write(self._head(method, path, query, body) + (body or b""))
                    await conn.writer.drain()
                    status_line = await conn.reader.readuntil(b"\r\n")
                except asyncio.IncompleteReadError as exc:
                    if exc.partial:
                        raise
                    raise _NoResponse("connection closed before the response") from None
                except (ConnectionError, ssl.SSLError, OSError) as exc:
                    raise _NoResponse(f"connection lost before the response: {exc}") from None
                headers: dict[str, str] = {}
                while (line := await conn.reader.readuntil(b"\r\n")) != b"\r\n":
                    name, _, value = line.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
        except asyncio.IncompleteReadError:
            raise KubeTransportError("connection closed in the middle of the response head") from None
        except asyncio.LimitOverrunError:
            raise KubeTransportError("response head too long") from None
        except TimeoutError:
            raise KubeTransportError(f"no response head within {head_timeout:g}s") from None
        except (ConnectionError, ssl.SSLError, OSError) as exc:
            raise KubeTransportError(f"connection lost: {exc}") from None
        parts = status_line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise KubeTransportError(f"not an HTTP/1.1 response: {status_line[:80]!r}")
        return _Response(conn, int(parts[1]), headers)

    async def _error(self, response: _Response, what: str) -> KubeApiError:
        with contextlib.suppress(KubeTransportError):
            data = await response.read_all(limit=1024 * 1024)
            if response.status == 401:
                self.connection.token.invalidate()
            return KubeApiError.from_status(_loads_or_none(data), response.status, what)
        return KubeApiError(response.status, "", "", what)


def _keepalive(sock: socket.socket | None) -> None:
    """TCP keep-alive on every API server connection: a peer that vanished (a node or NAT dropping the flow) ends
    a quiet watch within about a minute, where the stream alone would wait for its timeout (client-go sets 30 s)."""
    if sock is None:
        return
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 30)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)


def _warn_about_proxies(server: str, host: str) -> None:
    """client-go honours HTTP(S)_PROXY; we always connect directly, and say so rather than ignore the setting."""
    proxies = urllib.request.getproxies_environment()
    scheme = "https" if server.lower().startswith("https://") else "http"
    if proxies.get(scheme) and not urllib.request.proxy_bypass(host):
        logger.warning(
            "kubernetes: %s_PROXY is set, but connections to the API server %s do not go through proxies: "
            "connecting directly",
            scheme.upper(),
            server,
        )


def _selectors(label_selector: str | None, field_selector: str | None) -> dict[str, str]:
    query: dict[str, str] = {}
    if label_selector:
        query["labelSelector"] = label_selector
    if field_selector:
        query["fieldSelector"] = field_selector
    return query


def _loads_or_none(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


def _event(line: bytes, what: str) -> WatchEvent:
    try:
        document = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise KubeTransportError(f"{what}: a watch event is not JSON") from None
    if not isinstance(document, dict):
        raise KubeTransportError(f"{what}: a watch event is not a JSON object")
    kind = document.get("type")
    obj = document.get("object")
    if kind == "ERROR":
        raise KubeApiError.from_status(obj, 500, what)
    if not isinstance(kind, str) or not isinstance(obj, dict):
        raise KubeTransportError(f"{what}: a watch event without type or object")
    return WatchEvent(kind, obj)
