"""The request pipeline every HTTP protocol shares: from a parsed head to a :class:`Request`, and the request cycle.

A protocol (HTTP/1.1 in ``server.py``; HTTP/2 later) owns framing, parsing, pipelining, flow control and writing.
What happens between "a request head was parsed" and "this response goes out" is here, as plain functions, so two
protocols cannot drift apart and ``ingress explain`` builds the very request the server routes (the split uvicorn
makes between its protocols and the request-response cycle):

1. :func:`build_request`: Host count and Go's Host byte check, absolute-form authority, fragment (Traefik's
   ``denyFragment``), ``normalize_path``, the encoded-character policy, ``sanitize_path``, query ``;`` handling,
   ``Connection``-listed headers and the Upgrade rule, the forwarded-headers trust boundary, the canonical host and
   the routing path. A request the entrypoint refuses raises :class:`RequestRejected`; how it is answered (Go's
   ``400 Bad Request`` + close for HTTP/1.1) is the protocol's business.
2. :func:`handle_request`: the task that serves one request: routing lookup, body-limit admission (413), the
   handler, and the mapping of ``NoAvailableServer``/``ClientClosed``/``UpstreamError``/any exception to a response;
   the protocol's :meth:`RequestChannel.send_response` then writes it.
3. :func:`report`: the entrypoint observer call (metrics, access log, tracing) once a response is complete.

Hot-path rules: no allocation beyond what the request needs, no extra coroutine frame (:func:`handle_request` *is*
the task's coroutine), arguments passed positionally.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from time import perf_counter
from typing import TYPE_CHECKING, Final, Protocol, cast

import httptools

from hanzo_edge.http.body import BodyTooLarge, StreamBody
from hanzo_edge.http.errors import ClientClosed, NoAvailableServer, UpstreamError
from hanzo_edge.http.forwarded import remove_connection_headers
from hanzo_edge.http.fused_head import FusedHead
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.http.paths import PathError, encoded_character_violation, normalize_path, routing_path, sanitize_path
from hanzo_edge.http.status import status_text

if TYPE_CHECKING:
    from hanzo_edge.http.settings import ConnectionContext, EntrypointSettings, RequestObserver

__all__ = [
    "HeadFacts",
    "RequestChannel",
    "RequestRejected",
    "body_too_large",
    "build_request",
    "canonical_host",
    "discard_response",
    "handle_request",
    "proxy_error",
    "report",
    "scan_headers",
    "validated_host",
]

log = logging.getLogger("hanzo_edge.http")


class _URLParts(Protocol):
    """httptools' parsed URL as it is: its stub types every part as bytes/int, but an absent part is None, and the
    compiled build (mypyc) checks declared types at run time (a 500 for every absolute-form request without a port).
    """

    host: bytes | None
    port: int | None
    path: bytes | None
    query: bytes | None


class RequestRejected(Exception):
    """The request cannot be served; the client gets ``status`` and the connection closes."""

    def __init__(self, status: int, detail: str = "") -> None:
        super().__init__(detail or status_text(status))
        self.status = status


class RequestChannel(Protocol):
    """What :func:`handle_request` needs of the protocol that received the request."""

    ctx: ConnectionContext

    def send_response(self, req: Request, response: Response) -> None:
        """Write ``response`` to ``req`` (or discard it when the connection is already closing)."""

    def observe(self, req: Request, status: int, aborted: bool) -> None:
        """Report ``req`` to the entrypoint observer with the bytes written so far (an aborted exchange)."""


# -- building the request ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HeadFacts:
    """The header facts :func:`build_request` needs, for a driver that gets the head as a whole list.

    ``HttpProtocol`` notes the same facts field by field in its ``on_header`` callback (one dict probe per field);
    HTTP/2 and ``ingress explain`` get a finished header list and call :func:`scan_headers`.
    """

    host: bytes | None
    """The last ``Host`` value (None: none)."""
    host_count: int
    managed: bool
    """Some header is a managed ``X-Forwarded-*`` one (the trust boundary has work to do)."""
    connection: bool
    """A ``Connection`` header is present."""
    upgrade: bool
    """An ``Upgrade`` header is present (it counts only when ``Connection`` lists it)."""


def scan_headers(raw: list[tuple[bytes, bytes]], settings: EntrypointSettings) -> HeadFacts:
    """Return the :class:`HeadFacts` of a request's raw header list."""
    host: bytes | None = None
    host_count = 0
    managed = connection = upgrade = False
    managed_headers = settings.managed_headers
    for name, value in raw:
        lname = name.lower()
        if lname == b"host":
            host = value
            host_count += 1
        elif lname == b"connection":
            connection = True
        elif lname == b"upgrade":
            upgrade = True
        elif lname[:2] in (b"x-", b"x_") and lname in managed_headers:
            managed = True
    return HeadFacts(host, host_count, managed, connection, upgrade)


def build_request(
    settings: EntrypointSettings,
    method: str,
    version: str,
    target: str,
    raw_headers: list[tuple[bytes, bytes]],
    host_header: bytes | None,
    host_count: int,
    managed: bool,
    connection_header: bool,
    upgrade_header: bool,
    client_ip: str,
    client_ip_bytes: bytes,
    client_port: int,
) -> Request:
    """Return the :class:`Request` the entrypoint routes for a parsed head; raise :class:`RequestRejected`.

    ``target`` is the request-target decoded as latin-1 (origin-form, absolute-form or ``*``); ``raw_headers`` may be
    modified in place. ``host_header``/``host_count``/``managed``/``connection_header``/``upgrade_header`` are the
    :class:`HeadFacts` of ``raw_headers``. A fragment is not a rejection: the request is made and answered 400 from
    :func:`handle_request`, as Traefik's ``denyFragment`` handler does, keeping the connection.
    """
    if host_count > 1 or (host_count == 0 and version == "1.1"):
        raise RequestRejected(400, "missing or repeated Host header")
    host_raw = host_header or b""
    if target.startswith("/"):
        path, _, query = target.partition("?")
    elif target == "*":
        path, query = "*", ""
    else:
        # absolute-form (a proxy-style request): the URL's authority is the host (RFC 9112 §3.2.2)
        try:
            parsed = cast("_URLParts", httptools.parse_url(target.encode("latin-1")))
        except httptools.HttpParserInvalidURLError:
            raise RequestRejected(400, "malformed request-target") from None
        url_host, url_port = parsed.host, parsed.port
        path = (parsed.path or b"/").decode("latin-1")
        query = (parsed.query or b"").decode("latin-1")
        if url_host:
            # Go: the URL's authority is the request's host; the Host header is ignored (but still validated),
            # so routing, X-Forwarded-Host and the upstream Host all see the authority.
            if host_raw and validated_host(host_raw) is None:
                raise RequestRejected(400, "invalid Host header")
            host_raw = b"[%b]" % url_host if b":" in url_host else url_host
            if url_port:
                host_raw += b":%d" % url_port
            raw_headers = _with_host(raw_headers, host_raw)
    host = _HOSTS.get(host_raw)  # the cache probed inline: one dict get per request for a known host
    if host is None:
        host = validated_host(host_raw)
        if host is None:
            raise RequestRejected(400, "invalid Host header")
    answer = 0
    if "#" in path:
        answer = 400  # Traefik's denyFragment answers from a handler: empty 400, connection kept
        path = path.split("#", 1)[0] or "/"
    try:
        path = normalize_path(path)
    except PathError:
        raise RequestRejected(400, "invalid URL escape") from None
    if settings.denied_escapes and encoded_character_violation(path, settings.denied_escapes):
        raise RequestRejected(400, "denied encoded character")
    if settings.sanitize_path and path != "*":
        path = sanitize_path(path)
    if query and ";" in query and not settings.encode_query_semicolons:
        query = query.replace(";", "&")
    elif query and ";" in query:
        query = query.replace(";", "%3B")
    upgrade = False
    if connection_header:
        raw_headers, upgrade = remove_connection_headers(
            raw_headers, upgrade_header, settings.forwarded.connection_headers
        )
    # Without "Connection: upgrade" an Upgrade header asks for nothing: the request is an ordinary one, and the
    # proxy drops the header as hop-by-hop (Go's upgradeType).
    headers = Headers(raw_headers)
    settings.forwarded.apply(
        headers,
        managed,
        client_ip_bytes,
        host_raw,
        settings.tls,
        upgrade and b"websocket" in (headers.get_raw(b"upgrade") or b"").lower(),
    )
    req = Request(
        method,
        target,
        headers,
        path=path,
        query=query,
        version=version,
        host=host,
        client_ip=client_ip,
        client_port=client_port,
        scheme="https" if settings.tls else "http",
        entry_point=settings.name,
        routing_path=routing_path(path),
        upgrade=upgrade,
    )
    if answer:
        req.answer = answer
    if settings.tls:
        req.tls_options = settings.tls_options
    return req


def _with_host(raw: list[tuple[bytes, bytes]], host: bytes) -> list[tuple[bytes, bytes]]:
    """Return ``raw`` with its ``Host`` field set to ``host`` (added when absent, as for an HTTP/1.0 request)."""
    for i, (name, _) in enumerate(raw):
        if len(name) == 4 and name.lower() == b"host":
            raw[i] = (name, host)
            return raw
    raw.insert(0, (b"Host", host))
    return raw


_HOSTS: Final[dict[bytes, str]] = {}  # Final: a native constant in the compiled build
"""Valid raw ``Host`` value → canonical host; few distinct hosts reach one process, so this stays small (bounded)."""

_HOST_BYTES = b"".join(
    bytes([c]) for c in range(256) if chr(c).isascii() and (chr(c).isalnum() or chr(c) in "!$%&'()*+,-.:;=[]_~")
)
"""The bytes Go's ``httpguts.ValidHostHeader`` accepts in a Host (its ``validHostByte`` table)."""


def validated_host(host: bytes) -> str | None:
    """Return the canonical host of a raw ``Host`` value (cached), or None when Go rejects it (answered 400).

    Only valid values are cached, so the byte check runs once per distinct host, not per request.
    """
    canonical = _HOSTS.get(host)
    if canonical is None:
        if host.translate(None, _HOST_BYTES):
            return None  # a byte outside Go's table: "/", "@", spaces, controls, quotes, ...
        canonical = canonical_host(host)
        if len(_HOSTS) >= 4096:
            _HOSTS.clear()
        _HOSTS[host] = canonical
    return canonical


def canonical_host(host: bytes) -> str:
    """Lower-case host without port, IPv6 brackets or trailing dot (Traefik's ``CanonicalDomain(parseHost)``)."""
    if not host:
        return ""
    text = host.decode("latin-1").lower()
    if text.startswith("["):
        end = text.find("]")
        return text[1:end] if end > 0 else text
    if text.count(":") == 1:
        text = text.split(":", 1)[0]
    return text[:-1] if text.endswith(".") else text


# -- the request cycle ---------------------------------------------------------------------------------------------


async def handle_request(channel: RequestChannel, req: Request, eager: bool = False) -> None:
    """Serve ``req``: route it, run its handler, map failures to Traefik's answers, hand the response to ``channel``.

    This coroutine is the protocol's per-request task. A client that went away (``ClientClosed``) is reported as an
    aborted 499 and gets nothing written.

    ``eager``: the protocol drives this coroutine itself, without a Task (``HttpProtocol``'s eager start). Once
    routed, a request whose chain is not known to do without one (``req.task_free``) yields once, bare (as
    ``asyncio.sleep(0)`` does); the protocol then hands the rest of the coroutine to a Task before anything of the
    chain ran.
    """
    ctx = channel.ctx
    ctx.in_flight += 1
    body = req.body  # the client's body, kept even if a middleware replaces req.body
    try:
        try:
            if req.answer:
                response = Response(req.answer)
            else:
                handler = ctx.lookup(req)
                if eager and not req.task_free:
                    await asyncio.sleep(0)  # to a Task, see above
                # The body limit is known once routed (a router may override the entrypoint's): a declared
                # length over it is refused before anything reaches a middleware or a backend.
                if type(body) is StreamBody and not body.admit(ctx.settings.body_limit_for(req.route)):
                    response = body_too_large(req)
                elif type(handler) is FusedHead:
                    # The route's outer head-only middlewares as plain calls, in this frame (no coroutine each).
                    on_request = handler.on_request
                    early = None if on_request is None else on_request(req)
                    if early is not None:
                        response = early
                    else:
                        response = await handler.next(req)
                        on_response = handler.on_response
                        if on_response is not None:
                            on_response(req, response)
                else:
                    response = await handler(req)
        except BodyTooLarge:
            response = body_too_large(req)
        except NoAvailableServer:
            response = Response.text(503, "no available server\n")
        except ClientClosed:
            channel.observe(req, 499, True)
            return
        except UpstreamError as exc:
            response = proxy_error(exc.status)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("handler failed for %r", req)
            response = proxy_error(500)
        if type(body) is StreamBody and body.exceeded:
            # The body passed its limit while being relayed: the aborted exchange's 502, or a response that
            # raced the overflow, cannot stand for the request; the client learns why with a 413.
            discard_response(response)
            response = body_too_large(req)
        channel.send_response(req, response)
    finally:
        ctx.in_flight -= 1


_perf_counter: Final = perf_counter  # Final: a native constant in the compiled build, no module-dict lookup per call


def report(observer: RequestObserver, req: Request, status: int, response_bytes: int, aborted: bool) -> None:
    """Call the entrypoint observer for a finished (or aborted) request; an observer failure is logged, not raised."""
    try:
        observer(req, status, response_bytes, _perf_counter() - req.started, aborted)
    except Exception:
        log.exception("request observer failed")


def body_too_large(req: Request) -> Response:
    """Return the 413 for a request body over its limit; the connection closes after it."""
    # As Go's MaxBytesReader: once a body is over its limit the connection closes after the answer, even when the
    # whole body happened to be read already.
    req.keep_alive = False
    return proxy_error(413)


def proxy_error(status: int) -> Response:
    """Return Traefik's proxy error answer: the bare status text, no Content-Type (its entrypoint disables sniffing)."""
    return Response(status, Headers(), status_text(status).encode())


def discard_response(response: Response) -> None:
    """Abandon a response that will not be written: drop its streamed body and close a source still sending it."""
    body = response.body
    if isinstance(body, StreamBody) and not body.consumed:
        body.discard()
