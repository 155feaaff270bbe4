"""The sidecar's request handler (hanzoai/gateway ``cmd/ingress``): health, host table, per-host auth, proxy.

Per request:

1. ``<health_path>`` (exact, any host, any method, as a Go ``ServeMux`` pattern) → ``200 {"status":"ok"}``;
2. identity headers a client sent are removed (issue 20's list) — on every host, not only ``auth`` ones as in
   Hanzo's binary: no backend behind the sidecar can be handed a forged ``X-User-Id``;
3. the host (port stripped) and path go through the host table (exact host, longest prefix, ties in file order);
   no host or no prefix → ``404 "404 Not Found"`` as text;
4. ``auth: true`` hosts: an IAM token (``Bearer``, ``Basic`` password, or Hanzo's token cookies) verified by issue 20's
   :class:`~hanzo_edge.gateway.hanzo.tokens.JwtVerifier` (JWKS, issuer, audience from ``AUTH_*``); identity headers
   injected, ``Authorization``/``X-Authorization`` removed; a failure is ``401`` JSON with
   ``WWW-Authenticate: Basic realm="<host>"``;
5. proxied with the original ``Host``, the path unchanged, ``X-Forwarded-Host: <host>`` and ``X-Real-IP`` (the first
   ``X-Forwarded-For`` entry, else the client's ``X-Real-IP``, else the peer); a backend that cannot be reached →
   ``502 "502 Bad Gateway"``.
"""

from __future__ import annotations

import base64
import binascii

import orjson

from hanzo_edge.gateway.hanzo.go_proxy import drop_entrypoint_forwarded
from hanzo_edge.gateway.hanzo.host_table import HostTable
from hanzo_edge.gateway.hanzo.identity import request_token, strip_identity_headers
from hanzo_edge.gateway.hanzo.tokens import InvalidToken, JwtVerifier
from hanzo_edge.http.errors import UpstreamError
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.http.pool import PoolRegistry, TransportOptions
from hanzo_edge.http.proxy import server_target

__all__ = ["SidecarRouter"]

_TEXT = b"text/plain; charset=utf-8"
_JSON = b"application/json"
_UNSAFE = str.maketrans({"\r": " ", "\n": " ", "\x00": " "})
_HEALTH_BODY = b'{"status":"ok"}'
_AUTH_REQUIRED = b'{"error":"unauthorized","message":"Authentication required"}'


def _text(status: int, body: bytes) -> Response:
    # Go's http.Error: the text and a newline, nosniff.
    headers = Headers([(b"Content-Type", _TEXT), (b"X-Content-Type-Options", b"nosniff")])
    return Response(status, headers, body + b"\n")


def _header_value(value: object) -> str:
    return ("" if value is None else str(value)).translate(_UNSAFE)


class SidecarRouter:
    """One generation of the sidecar: the table, its upstream targets, the verifier for ``auth`` hosts."""

    __slots__ = ("auth_hosts", "health_path", "table", "targets", "verifier")

    def __init__(
        self,
        table: HostTable,
        health_path: str,
        auth_hosts: frozenset[str],
        pools: PoolRegistry,
        verifier: JwtVerifier | None,
        options: TransportOptions | None = None,
    ) -> None:
        self.table = table
        self.health_path = health_path
        self.auth_hosts = auth_hosts
        self.verifier = verifier
        # Hanzo's transport: dial 10 s, 20 idle connections per host kept 90 s, no response timeout of its own.
        # A custom Go Transport without ForceAttemptHTTP2 speaks HTTP/1.1 to https backends too.
        options = options or TransportOptions(
            max_idle_conns_per_host=20, dial_timeout=10.0, idle_conn_timeout=90.0, disable_http2=True
        )
        self.targets: dict[str, Handler] = {
            url: server_target(url, pools, options, pass_host_header=True, preserve_path=True)
            for url in table.backends()
        }

    async def __call__(self, req: Request) -> Response:
        if req.path == self.health_path:
            return Response(200, Headers([(b"Content-Type", _JSON)]), _HEALTH_BODY)
        strip_identity_headers(req)
        match = self.table.match(req.host, req.path)
        if match is None or match.kind != "proxy":
            return _text(404, b"404 Not Found")
        if req.host in self.auth_hosts:
            refused = await self._authenticate(req)
            if refused is not None:
                return refused
        drop_entrypoint_forwarded(req)
        headers = req.headers
        forwarded = headers.get("X-Forwarded-For")
        real_ip = forwarded.split(",", 1)[0].strip() if forwarded else ""
        real_ip = real_ip or (headers.get("X-Real-IP") or "").strip() or req.client_ip
        headers.set("X-Real-IP", real_ip)
        headers.set("X-Forwarded-Host", req.host)
        try:
            return await self.targets[match.url](req)
        except UpstreamError:
            return _text(502, b"502 Bad Gateway")

    async def _authenticate(self, req: Request) -> Response | None:
        verifier = self.verifier
        token = request_token(req) or _basic_password(req)
        if verifier is None or not token:
            return self._unauthorized(req, _AUTH_REQUIRED)
        try:
            claims = await verifier.claims(token)
        except InvalidToken as exc:
            body = {"error": "unauthorized", "message": "Invalid token", "detail": str(exc)}
            return self._unauthorized(req, orjson.dumps(body))
        headers = req.headers
        headers.remove("Authorization")
        headers.remove("X-Authorization")
        user_id = claims.get("sub") or claims.get("preferred_username") or claims.get("name") or ""
        for names, value in (
            (("X-Hanzo-User-Id", "X-User-Id"), user_id),
            (("X-Hanzo-Org-Id", "X-Org-Id"), claims.get("owner")),
            (("X-Hanzo-User-Email", "X-User-Email"), claims.get("email")),
        ):
            for name in names:
                headers.set(name, _header_value(value))
        return None

    def _unauthorized(self, req: Request, body: bytes) -> Response:
        realm = req.host.replace("\\", "\\\\").replace('"', '\\"')
        headers = Headers(
            [(b"Content-Type", _JSON), (b"WWW-Authenticate", f'Basic realm="{realm}"'.encode("latin-1", "replace"))]
        )
        return Response(401, headers, body)


def _basic_password(req: Request) -> str:
    """The password of ``Authorization: Basic`` (an IAM token typed into a browser's prompt); "" otherwise."""
    header = req.headers.get("Authorization") or req.headers.get("X-Authorization") or ""
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        return ""
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ""
    return decoded.partition(":")[2].strip()
