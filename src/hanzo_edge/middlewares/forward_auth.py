"""``forwardAuth``: ask an authentication server whether to let the request through (Traefik ``forward.go``).

The auth request goes to ``address`` (its path and query as written) with ``GET`` — or the request's method with
``preserveRequestMethod`` — and carries the request's headers (all of them, or only ``authRequestHeaders``) minus
hop-by-hop ones, with the client's ``Host`` in ``X-Forwarded-Host`` and these set by the middleware:
``X-Forwarded-For`` (the client IP, after earlier values when ``trustForwardHeader``), ``X-Forwarded-Method``,
``-Proto`` (``http``/``https``), ``-Host`` and ``-Uri`` (the request's own values when ``trustForwardHeader`` and
present); ``X-Forwarded-Port`` is the entrypoint's. ``forwardBody`` sends the body too: it is read (at most
``maxBodySize`` bytes, ``-1`` unlimited; over that the client gets an empty ``401``) and replayed upstream.

* A ``2xx`` answer lets the request through. Each ``authResponseHeaders`` header is deleted from the request and, if
  the auth answer has it, set from it; with ``authResponseHeadersRegex`` every request header matching it is deleted
  and the matching auth headers are copied. Client headers that only differ in ``_``/``.`` for ``-`` from such a
  name are deleted as well, so a forged identity header never reaches the backend under any spelling. Cookies
  named in ``addAuthCookiesToResponse`` replace the backend's cookies of the same name on the response.
* Any other answer is returned to the client as it came (status, headers, body); a relative ``Location`` is made
  absolute against ``address`` unless ``preserveLocationHeader``.
* The auth server unreachable, failing or slower than 30 s (Traefik's fixed client timeout): empty ``500``; the
  client gone: ``499``; an auth answer over ``maxResponseBodySize``: empty ``401``. Redirects are not followed.

``headerField`` stores the first value of that auth response header in ``req.client_username`` (the access
log's ``ClientUsername``). Connections to auth servers are pooled per process (:data:`AUTH_POOLS`), so they outlive
configuration generations. ``tls`` (``ca``/``cert``/``key`` as files or inline PEM, ``insecureSkipVerify``) applies
to an ``https`` address.
"""

from __future__ import annotations

import asyncio
import base64
import os
import ssl
import tempfile
import time
from collections.abc import Awaitable
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from hanzo_edge.http.body import StreamBody
from hanzo_edge.http.errors import ClientClosed
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.http.pool import ConnectionPool, PoolRegistry, TransportOptions
from hanzo_edge.http.proxy import ServerTarget
from hanzo_edge.middlewares.base import BuildContext, register
from hanzo_edge.rules.goregexp import compile_go_regexp

__all__ = ["AUTH_POOLS", "AUTH_TIMEOUT", "ForwardAuth", "canonical_key"]

AUTH_TIMEOUT = 30.0
"""Seconds the whole auth exchange may take (Traefik's hard-coded ``http.Client`` timeout, issue #9857)."""

AUTH_POOLS = PoolRegistry()
"""Connection pools to auth servers, shared by every forwardAuth middleware of the process."""

_TLS_POOLS: dict[tuple[Any, ...], ConnectionPool] = {}
_SWEEP_EVERY = 30.0
_last_sweep = 0.0

_TRANSPORT = TransportOptions(max_idle_conns_per_host=64, dial_timeout=AUTH_TIMEOUT)
_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
        b"host",
        b"content-length",
        b"expect",
    }
)
_SET_BY_US = frozenset(
    {b"x-forwarded-for", b"x-forwarded-method", b"x-forwarded-proto", b"x-forwarded-host", b"x-forwarded-uri"}
)
_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def canonical_key(name: str) -> str:
    """Go's ``CanonicalMIMEHeaderKey`` (``x-auth-user`` → ``X-Auth-User``); names with invalid bytes are unchanged."""
    if not name or any(c not in _TOKEN_CHARS for c in name):
        return name
    out: list[str] = []
    upper = True
    for c in name:
        out.append(c.upper() if upper else c.lower())
        upper = c == "-"
    return "".join(out)


def _alias(name: bytes) -> bytes:
    """The spelling a backend may fold a header name to (``X_Auth.User`` → ``x-auth-user``)."""
    return name.lower().replace(b"_", b"-").replace(b".", b"-")


def _empty(status: int) -> Response:
    return Response(status)


def _cookie_name(value: bytes) -> bytes:
    return value.split(b";", 1)[0].split(b"=", 1)[0].strip()


# --------------------------------------------------------------------------------------------------------- TLS


def _pem(value: str) -> bytes:
    """A ``tls`` option is a file path or the PEM itself (as Traefik's ``ClientTLS``)."""
    if os.path.isfile(value):
        with open(value, "rb") as handle:
            return handle.read()
    return value.encode()


def _client_context(ca: bytes, cert: bytes, key: bytes, insecure: bool) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca:
        try:
            context.load_verify_locations(cadata=ca.decode("latin-1"))
        except (ssl.SSLError, ValueError) as exc:
            raise ValueError(f"unable to create client TLS configuration: failed to parse CA: {exc}") from None
    else:
        context.load_default_certs()
    if cert:
        with tempfile.TemporaryDirectory() as tmp:
            cert_path, key_path = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
            with open(cert_path, "wb") as handle:
                handle.write(cert)
            with open(key_path, "wb") as handle:
                handle.write(key)
            try:
                context.load_cert_chain(cert_path, key_path)
            except (ssl.SSLError, OSError) as exc:
                raise ValueError(f"unable to create client TLS configuration: {exc}") from None
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class _ClientTLSPool(ConnectionPool):
    """A pool whose https connections use a client TLS context built from the middleware's ``tls`` option."""

    __slots__ = ()

    def __init__(self, host: str, port: int, options: TransportOptions, context: ssl.SSLContext) -> None:
        super().__init__("http", host, port, options)  # no default context: ours replaces it
        self.scheme = "https"
        self._ssl = context


class _OnePool(PoolRegistry):
    """Hands one given pool to :class:`ServerTarget`."""

    __slots__ = ("pool",)

    def __init__(self, pool: ConnectionPool) -> None:
        super().__init__()
        self.pool = pool

    def get(self, options: TransportOptions, scheme: str, host: str, port: int) -> ConnectionPool:
        return self.pool


def _target(address: str, scheme: str, host: str, port: int, tls: Any) -> ServerTarget:
    if tls is None or scheme != "https":
        return ServerTarget(address, AUTH_POOLS, _TRANSPORT, pass_host_header=False)
    ca, cert, key = (str(getattr(tls, attr, "") or "") for attr in ("ca", "cert", "key"))
    insecure = bool(getattr(tls, "insecure_skip_verify", False))
    if bool(cert) != bool(key):
        raise ValueError("unable to create client TLS configuration: both TLS cert and key must be defined")
    if not (ca or cert):
        options = TransportOptions(
            max_idle_conns_per_host=_TRANSPORT.max_idle_conns_per_host,
            dial_timeout=_TRANSPORT.dial_timeout,
            insecure_skip_verify=insecure,
        )
        return ServerTarget(address, AUTH_POOLS, options, pass_host_header=False)
    try:
        material = (_pem(ca) if ca else b"", _pem(cert) if cert else b"", _pem(key) if key else b"")
    except OSError as exc:
        raise ValueError(f"unable to create client TLS configuration: {exc}") from None
    pool_key = (*material, insecure, host, port)
    pool = _TLS_POOLS.get(pool_key)
    if pool is None:
        pool = _ClientTLSPool(host, port, _TRANSPORT, _client_context(*material, insecure))
        _TLS_POOLS[pool_key] = pool
    return ServerTarget(address, _OnePool(pool), _TRANSPORT, pass_host_header=False)


def _sweep(now: float) -> None:
    global _last_sweep
    _last_sweep = now
    AUTH_POOLS.sweep()
    for pool in _TLS_POOLS.values():
        pool.sweep(now)


# ----------------------------------------------------------------------------------------------- the middleware


class _TooLarge(Exception):
    pass


async def _read(body: bytes | StreamBody, limit: int) -> bytes:
    """Read a whole body; raises _TooLarge past ``limit`` bytes (``limit < 0``: unlimited), BodyError on failure."""
    if isinstance(body, bytes):
        if 0 <= limit < len(body):
            raise _TooLarge
        return body
    if limit >= 0 and body.length is not None and body.length > limit:
        raise _TooLarge
    parts: list[bytes] = []
    total = 0
    while chunk := await body.read_chunk():
        total += len(chunk)
        if 0 <= limit < total:
            raise _TooLarge
        parts.append(chunk)
    return b"".join(parts)


def _drop(response: Response | None) -> None:
    """Abandon an auth response whose body was not read: its connection cannot be reused."""
    if response is None:
        return
    body = response.body
    if isinstance(body, StreamBody):
        body.discard()


@register("forwardAuth")
class ForwardAuth:
    """Delegates authentication to ``address`` (see the module docstring).

    Raises ValueError when ``address`` is not an http(s) URL, ``tls`` is unusable or the regex does not compile.
    """

    __slots__ = (
        "address",
        "authorization",
        "cookie_names",
        "forward_body",
        "header_field",
        "max_body",
        "max_response_body",
        "name",
        "next",
        "path",
        "preserve_location",
        "preserve_method",
        "query",
        "request_headers",
        "response_aliases",
        "response_headers",
        "response_regex",
        "target",
        "trust",
    )

    def __init__(self, next: Handler, config: Any, *, name: str, ctx: BuildContext) -> None:
        address = str(getattr(config, "address", "") or "").strip()
        if not address:
            raise ValueError("forwardAuth address is required")
        try:
            parts = urlsplit(address)
            port = parts.port
        except ValueError as exc:
            raise ValueError(f"invalid forwardAuth address {address!r}: {exc}") from None
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"invalid forwardAuth address {address!r}: an http:// or https:// URL is required")
        regex_text = str(getattr(config, "auth_response_headers_regex", "") or "")
        try:
            self.response_regex = compile_go_regexp(regex_text) if regex_text else None
        except ValueError as exc:
            raise ValueError(f"error compiling regular expression {regex_text}: {exc}") from None
        self.target = _target(
            address, scheme, parts.hostname, port or (443 if scheme == "https" else 80), getattr(config, "tls", None)
        )
        self.next = next
        self.name = name
        self.address = address
        self.path = parts.path or "/"
        self.query = parts.query
        self.authorization: bytes | None = None
        if parts.username is not None:
            # Go's client turns URL userinfo into Basic credentials (unless the request has Authorization).
            userinfo = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            self.authorization = b"Basic " + base64.b64encode(userinfo.encode())
        self.trust = bool(getattr(config, "trust_forward_header", False))
        names = tuple(str(n) for n in getattr(config, "auth_response_headers", ()) or () if str(n))
        self.response_headers = tuple((n.encode("latin-1").lower(), canonical_key(n).encode("latin-1")) for n in names)
        self.response_aliases = frozenset(_alias(lower) for lower, _ in self.response_headers)
        wanted = tuple(str(n) for n in getattr(config, "auth_request_headers", ()) or () if str(n))
        self.request_headers = tuple(n.encode("latin-1").lower() for n in wanted)
        self.cookie_names = frozenset(
            str(n).encode("latin-1") for n in getattr(config, "add_auth_cookies_to_response", ()) or ()
        )
        self.header_field = str(getattr(config, "header_field", "") or "")
        self.forward_body = bool(getattr(config, "forward_body", False))
        self.max_body = int(getattr(config, "max_body_size", -1))
        max_response = getattr(config, "max_response_body_size", -1)
        self.max_response_body = -1 if max_response is None else int(max_response)
        self.preserve_location = bool(getattr(config, "preserve_location_header", False))
        self.preserve_method = bool(getattr(config, "preserve_request_method", False))

    def __call__(self, req: Request) -> Awaitable[Response]:
        return self._authorize(req)

    # -- the auth request ------------------------------------------------------------------------------------------
    def _auth_headers(self, req: Request) -> list[tuple[bytes, bytes]]:
        trust = self.trust
        raw = req.headers.raw
        out = [pair for pair in raw if pair[0].lower() not in _HOP and pair[0].lower() not in _SET_BY_US]
        if self.request_headers:
            wanted = self.request_headers
            out = [pair for name in wanted for pair in out if pair[0].lower() == name]
        received: dict[bytes, bytes] = {}
        if trust:
            for name, value in raw:
                lname = name.lower()
                if lname in _SET_BY_US or lname == b"x-forwarded-port":
                    received.setdefault(lname, value)
                if lname == b"x-forwarded-for":
                    out.append((b"X-Forwarded-For", value))  # the proxy appends the client IP after them
        if self.authorization is not None and not any(pair[0].lower() == b"authorization" for pair in out):
            out.append((b"Authorization", self.authorization))
        out.append((b"X-Forwarded-Method", received.get(b"x-forwarded-method") or req.method.encode("latin-1")))
        out.append((b"X-Forwarded-Proto", received.get(b"x-forwarded-proto") or (b"https" if req.tls else b"http")))
        if trust and b"x-forwarded-port" in received:
            out = [pair for pair in out if pair[0].lower() != b"x-forwarded-port"]
            out.append((b"X-Forwarded-Port", received[b"x-forwarded-port"]))
        host = received.get(b"x-forwarded-host") or req.headers.get_raw(b"host") or req.host.encode("latin-1")
        if host:
            out.append((b"X-Forwarded-Host", host))
        uri = received.get(b"x-forwarded-uri")
        if not uri:
            path = req.path or "/"
            uri = (f"{path}?{req.query}" if req.query else path).encode("latin-1")
        out.append((b"X-Forwarded-Uri", uri))
        return out

    async def _authorize(self, req: Request) -> Response:
        now = time.monotonic()  # the pools' own clock (idle connections), not request logic
        if now - _last_sweep > _SWEEP_EVERY:
            _sweep(now)
        auth_body = b""
        if self.forward_body and not (
            req.method == "CONNECT" and isinstance(req.body, StreamBody) and req.body.length is None
        ):
            try:
                auth_body = await _read(req.body, self.max_body)
            except _TooLarge:
                return _empty(401)
            except Exception:
                return _empty(500)  # the client's body failed
            req.body = auth_body  # replayed upstream
        method = req.method if self.preserve_method else "GET"
        auth_req = Request(
            method,
            self.path,
            Headers(self._auth_headers(req)),
            path=self.path,
            query=self.query,
            client_ip=req.client_ip,
            body=auth_body,
        )
        auth: Response | None = None
        timer = asyncio.timeout(AUTH_TIMEOUT)
        try:
            async with timer:
                auth = await self.target(auth_req)
                data = await _read(auth.body, self.max_response_body)
        except ClientClosed:
            return _empty(500 if timer.expired() else 499)
        except TimeoutError:
            _drop(auth)
            return _empty(500)
        except _TooLarge:
            _drop(auth)
            return _empty(401)
        except Exception:  # UpstreamError, BodyError: the auth server failed
            _drop(auth)
            return _empty(500)
        except BaseException:
            _drop(auth)
            raise
        return await self._decide(req, auth, data)

    # -- the answer ------------------------------------------------------------------------------------------------
    async def _decide(self, req: Request, auth: Response, data: bytes) -> Response:
        headers = auth.headers
        if self.header_field:
            user = headers.get(self.header_field)
            if user is not None:
                req.client_username = user
        if not 200 <= auth.status < 300:
            out = Headers([pair for pair in headers.raw if pair[0].lower() != b"content-length"])
            location = headers.get("Location")
            if location and not self.preserve_location:
                try:
                    out.set("Location", urljoin(self.address, location))
                except ValueError:
                    return _empty(500)
            return Response(auth.status, out, data, reason=auth.reason)
        self._copy_identity(req, headers)
        names = self.cookie_names
        if names:
            cookies = headers.get_all("Set-Cookie")
            if cookies:
                response = await self.next(req)
                selected = [(b"Set-Cookie", c.encode("latin-1")) for c in cookies]
                raw = response.headers.raw
                kept = [p for p in raw if p[0].lower() != b"set-cookie" or _cookie_name(p[1]) not in names]
                kept += [p for p in selected if _cookie_name(p[1]) in names]
                response.headers.raw = kept
                return response
        return await self.next(req)

    def _copy_identity(self, req: Request, auth_headers: Headers) -> None:
        regex = self.response_regex
        if not self.response_headers and regex is None:
            return
        aliases = self.response_aliases
        raw = req.headers.raw
        kept: list[tuple[bytes, bytes]] = []
        for pair in raw:
            name = pair[0]
            if aliases and _alias(name) in aliases:
                continue
            if regex is not None:
                text = name.decode("latin-1")
                if regex.is_match(canonical_key(text)) or regex.is_match(canonical_key(_alias(name).decode("latin-1"))):
                    continue
            kept.append(pair)
        auth_raw = auth_headers.raw
        for lower, canonical in self.response_headers:
            kept += [(canonical, value) for name, value in auth_raw if name.lower() == lower]
        if regex is not None:
            listed = {lower for lower, _ in self.response_headers}
            for name, value in auth_raw:
                key = canonical_key(name.decode("latin-1"))
                if name.lower() not in listed and regex.is_match(key):
                    kept.append((key.encode("latin-1"), value))
        req.headers.raw = kept
