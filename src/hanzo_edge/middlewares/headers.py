"""``headers``: custom request/response headers, CORS and security headers (Traefik ``pkg/middlewares/headers``).

Traefik builds two layers, ``Header`` (custom headers + CORS) outside ``secure`` (``unrolled/secure`` v1.0.9), so:

1. A CORS preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``, and CORS options set) is
   answered ``200`` at once with the ``Access-Control-*`` headers only: no custom or security headers, no host check.
2. ``customRequestHeaders`` are applied (an empty value deletes the header; ``Host`` sets the request host, which
   is what goes upstream when ``passHostHeader`` is true and what ``allowedHosts`` then checks).
3. The security layer checks ``allowedHosts`` (the raw ``Host``, or the first non-empty ``hostsProxyHeaders``
   header; case-insensitive) and answers ``500 Bad Host`` on a mismatch; it handles the deprecated ``sslRedirect``
   family; then the backend response gets the security headers (``Strict-Transport-Security`` and
   ``Public-Key-Pins`` only on HTTPS — TLS or a matching ``sslProxyHeaders`` entry — unless ``forceSTSHeader``;
   ``isDevelopment`` turns off the host check, the redirects, STS and HPKP).
4. Every response but an interim one (including ``Bad Host``) then gets ``customResponseHeaders`` and the CORS
   response headers (``Access-Control-Allow-Origin``, ``-Allow-Credentials``, ``-Expose-Headers``, ``Vary: Origin``).

With ``accessControlAllowCredentials``, wildcards are replaced by the request's values (Traefik PR #13368): a ``*``
origin echoes ``Origin``, ``*`` methods echo ``Access-Control-Request-Method``, ``*`` headers echo
``Access-Control-Request-Headers``, and ``*`` expose headers are left out. Lists are joined with ``","``.
"""

from __future__ import annotations

import base64
import html
import secrets
from typing import Any

from hanzo_edge.config.middlewares import Headers as HeadersConfig
from hanzo_edge.http.fused_head import ResponseHook
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.http.status import status_text
from hanzo_edge.middlewares._headers_response import ResponseEdit, ResponseHeaderEdits
from hanzo_edge.middlewares.base import BuildContext, HeadHooks, register
from hanzo_edge.rules.goregexp import GoRegexp, compile_go_regexp

__all__ = ["HeadersMiddleware", "canonical_header_key"]

_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")

# Custom request header operations.
_DELETE = 0
_HOST = 1
_SET = 2

_NONCE = "$NONCE"


def canonical_header_key(name: str) -> str:
    """Return Go's ``CanonicalMIMEHeaderKey(name)`` (``x-foo-bar`` → ``X-Foo-Bar``); invalid names are unchanged."""
    if not name or any(c not in _TOKEN_CHARS for c in name):
        return name
    out = []
    upper = True
    for c in name:
        if upper and "a" <= c <= "z":
            c = c.upper()
        elif not upper and "A" <= c <= "Z":
            c = c.lower()
        out.append(c)
        upper = c == "-"
    return "".join(out)


def _canonical_host(value: str) -> str:
    text = value.lower()
    if text.startswith("["):
        end = text.find("]")
        return text[1:end] if end > 0 else text
    if text.count(":") == 1:
        text = text.split(":", 1)[0]
    return text[:-1] if text.endswith(".") else text


def _latin1(header: str, text: str, option: str = "customResponseHeaders") -> bytes:
    """``text`` as header bytes; a character outside Latin-1 is a configuration error naming the header."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError(f"{option} {header!r}: {text!r} has a character outside Latin-1") from None


# RFC 9110 token characters (Go's httpguts.ValidHeaderFieldName).
_TOKEN = frozenset(b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def _valid_name(name: bytes) -> bool:
    return bool(name) and all(c in _TOKEN for c in name)


def _request_header(header: str, value: str) -> None:
    """Refuse a ``customRequestHeaders`` entry Go's transport would refuse on every request (a 502 each).

    A CR or LF in a value would otherwise start a header line (or a request) of its own on the backend connection.
    """
    option = "customRequestHeaders"
    if not _valid_name(_latin1(header, header, option)):
        raise ValueError(f"{option} {header!r}: not a valid header name")
    if any((c < 0x20 and c != 0x09) or c == 0x7F for c in _latin1(header, value, option)):
        raise ValueError(f"{option} {header!r}: {value!r} has a control character")


def _response_value(header: str, value: str) -> bytes:
    """A ``customResponseHeaders`` value as Go's server writes it: CR and LF become spaces, then trimmed."""
    return _latin1(header, value).replace(b"\r", b" ").replace(b"\n", b" ").strip(b" \t")


def _attr(config: Any, name: str, default: Any) -> Any:
    value = getattr(config, name, default)
    return default if value is None else value


def _has_secure(config: Any) -> bool:
    return bool(
        _attr(config, "allowed_hosts", ())
        or _attr(config, "hosts_proxy_headers", ())
        or _attr(config, "ssl_redirect", False)
        or _attr(config, "ssl_temporary_redirect", False)
        or _attr(config, "ssl_force_host", False)
        or _attr(config, "ssl_proxy_headers", {})
        or _attr(config, "ssl_host", "")
        or _attr(config, "sts_seconds", 0)
        or _attr(config, "sts_include_subdomains", False)
        or _attr(config, "sts_preload", False)
        or _attr(config, "force_sts_header", False)
        or _attr(config, "frame_deny", False)
        or _attr(config, "custom_frame_options_value", "")
        or _attr(config, "browser_xss_filter", False)
        or _attr(config, "custom_browser_xss_value", "")
        or _attr(config, "content_type_nosniff", False)
        or _attr(config, "content_security_policy", "")
        or _attr(config, "content_security_policy_report_only", "")
        or _attr(config, "public_key", "")
        or _attr(config, "referrer_policy", "")
        or _attr(config, "feature_policy", "")
        or _attr(config, "permissions_policy", "")
        or _attr(config, "is_development", False)
    )


def _has_cors(config: Any) -> bool:
    return bool(
        _attr(config, "access_control_allow_credentials", False)
        or _attr(config, "access_control_allow_headers", ())
        or _attr(config, "access_control_allow_methods", ())
        or _attr(config, "access_control_allow_origin_list", ())
        or _attr(config, "access_control_allow_origin_list_regex", ())
        or _attr(config, "access_control_expose_headers", ())
        or _attr(config, "access_control_max_age", 0)
        or _attr(config, "add_vary_header", False)
    )


def _redirect(req: Request, url: str, status: int) -> Response:
    """Go's ``http.Redirect`` to an absolute URL: HTML link body for GET, Content-Type for GET/HEAD."""
    headers = Headers([(b"Location", url.encode("latin-1"))])
    body = b""
    if req.method in ("GET", "HEAD"):
        headers.add("Content-Type", "text/html; charset=utf-8")
    if req.method == "GET":
        escaped = html.escape(url, quote=True).replace("&#x27;", "&#39;").replace("&quot;", "&#34;")
        body = f'<a href="{escaped}">{status_text(status)}</a>.\n\n'.encode("latin-1")
    return Response(status, headers, body)


@register("headers")
class HeadersMiddleware:
    """Custom headers, CORS and security headers.

    Raises ValueError when nothing is configured (``headers configuration not valid``) or an origin regex is
    invalid.
    """

    __slots__ = (
        "_allow_headers",
        "_allow_headers_echo",
        "_allow_methods",
        "_allow_methods_echo",
        "_allowed_hosts",
        "_credentials",
        "_csp_nonce_templates",
        "_expose_headers",
        "_force_sts",
        "_hosts_proxy_headers",
        "_hpkp",
        "_max_age",
        "_origin_list",
        "_origin_regexes",
        "_outer",
        "_request_ops",
        "_response_ops",
        "_secure",
        "_secure_request",
        "_secure_response",
        "_secure_static",
        "_ssl_force_host",
        "_ssl_host",
        "_ssl_proxy_headers",
        "_ssl_redirect",
        "_ssl_redirect_status",
        "_sts",
        "_sts_field",
        "_sts_only",
        "_vary",
        "cors",
        "head_hooks",
        "name",
        "next",
    )

    def __init__(self, next: Handler, config: HeadersConfig, *, name: str, ctx: BuildContext) -> None:
        has_secure = _has_secure(config)
        custom_request = dict(_attr(config, "custom_request_headers", {}))
        custom_response = dict(_attr(config, "custom_response_headers", {}))
        has_custom = bool(custom_request or custom_response)
        has_cors = _has_cors(config)
        if not (has_secure or has_custom or has_cors):
            raise ValueError("headers configuration not valid")
        self.next = next
        self.name = name
        self.cors = has_cors
        self._outer = has_custom or has_cors

        # -- custom headers
        ops: list[tuple[int, str, str]] = []
        for header, value in custom_request.items():
            _request_header(header, value)
            if value == "":
                if header.lower() != "host":  # Go keeps the host outside req.Header: deleting it is a no-op
                    ops.append((_DELETE, header, ""))
            elif header.lower() == "host":
                ops.append((_HOST, "Host", value))
            else:
                ops.append((_SET, canonical_header_key(header), value))
        self._request_ops = tuple(ops)
        # (canonical name, lower-case key, encoded field or None to delete): encoded once, not per response
        # A name that is no token is never written (Go's Header.writeSubset drops it), and a CR or LF in a value
        # becomes a space (its headerNewlineToSpace): neither can start a header line of its own.
        self._response_ops: tuple[ResponseEdit, ...] = tuple(
            (name, _latin1(name, name).lower(), (_latin1(name, name), _response_value(name, value)) if value else None)
            for name, value in ((canonical_header_key(h), v) for h, v in custom_response.items())
            if _valid_name(_latin1(name, name))
        )

        # -- CORS
        self._credentials = bool(_attr(config, "access_control_allow_credentials", False))
        allow_headers = tuple(_attr(config, "access_control_allow_headers", ()))
        allow_methods = tuple(_attr(config, "access_control_allow_methods", ()))
        expose = tuple(_attr(config, "access_control_expose_headers", ()))
        self._allow_headers = ",".join(allow_headers)
        self._allow_headers_echo = self._credentials and "*" in allow_headers
        self._allow_methods = ",".join(allow_methods)
        self._allow_methods_echo = self._credentials and "*" in allow_methods
        self._expose_headers = "" if (self._credentials and "*" in expose) else ",".join(expose)
        self._max_age = str(int(_attr(config, "access_control_max_age", 0)))
        self._origin_list: tuple[str, ...] = tuple(
            str(item) for item in _attr(config, "access_control_allow_origin_list", ())
        )
        regexes: list[GoRegexp] = []
        for pattern in _attr(config, "access_control_allow_origin_list_regex", ()):
            try:
                regexes.append(compile_go_regexp(pattern))
            except ValueError as exc:
                raise ValueError(f"error occurred during origin parsing: {exc}") from None
        self._origin_regexes = tuple(regexes)
        self._vary = bool(_attr(config, "add_vary_header", False))

        # -- security headers (unrolled/secure)
        self._secure = has_secure
        dev = bool(_attr(config, "is_development", False))
        allowed_hosts = tuple(_attr(config, "allowed_hosts", ()))
        self._allowed_hosts = frozenset(h.lower() for h in allowed_hosts) if allowed_hosts and not dev else None
        self._hosts_proxy_headers = tuple(_attr(config, "hosts_proxy_headers", ()))
        self._ssl_proxy_headers = tuple(dict(_attr(config, "ssl_proxy_headers", {})).items())
        self._ssl_redirect = bool(_attr(config, "ssl_redirect", False)) and not dev
        temporary = bool(_attr(config, "ssl_temporary_redirect", False))
        self._ssl_redirect_status = 307 if temporary else 301
        self._ssl_host = str(_attr(config, "ssl_host", ""))
        self._ssl_force_host = bool(_attr(config, "ssl_force_host", False))

        sts_seconds = int(_attr(config, "sts_seconds", 0))
        sts: str | None = None
        if sts_seconds != 0 and not dev:
            sts = f"max-age={sts_seconds}"
            if _attr(config, "sts_include_subdomains", False):
                sts += "; includeSubDomains"
            if _attr(config, "sts_preload", False):
                sts += "; preload"
        self._sts = sts
        self._sts_field = (b"Strict-Transport-Security", sts.encode("latin-1")) if sts is not None else None
        self._force_sts = bool(_attr(config, "force_sts_header", False))
        public_key = str(_attr(config, "public_key", ""))
        self._hpkp = public_key if public_key and not dev else None

        static: list[tuple[str, str]] = []
        frame = str(_attr(config, "custom_frame_options_value", "")) or (
            "DENY" if _attr(config, "frame_deny", False) else ""
        )
        if frame:
            static.append(("X-Frame-Options", frame))
        if _attr(config, "content_type_nosniff", False):
            static.append(("X-Content-Type-Options", "nosniff"))
        xss = str(_attr(config, "custom_browser_xss_value", "")) or (
            "1; mode=block" if _attr(config, "browser_xss_filter", False) else ""
        )
        if xss:
            static.append(("X-Xss-Protection", xss))
        nonce_templates: list[tuple[str, str]] = []
        for header, attr in (
            ("Content-Security-Policy", "content_security_policy"),
            ("Content-Security-Policy-Report-Only", "content_security_policy_report_only"),
        ):
            policy = str(_attr(config, attr, ""))
            if policy:
                (nonce_templates if _NONCE in policy else static).append((header, policy))
        for header, attr in (
            ("Referrer-Policy", "referrer_policy"),
            ("Feature-Policy", "feature_policy"),
            ("Permissions-Policy", "permissions_policy"),
        ):
            value = str(_attr(config, attr, ""))
            if value:
                static.append((header, value))
        self._secure_static = tuple(static)
        self._csp_nonce_templates = tuple(nonce_templates)
        # What the security layer has to do, decided once: most configurations only add response headers, and a
        # request then costs no host lookup, no redirect check and no extra coroutine (issue 22).
        self._secure_request = has_secure and (
            self._allowed_hosts is not None or self._ssl_redirect or self._ssl_force_host
        )
        self._secure_response = has_secure and bool(
            self._ssl_host or self._sts is not None or self._secure_static or self._hpkp or self._csp_nonce_templates
        )
        # Head-only (issue 22): the chain builder may run this layer as two plain calls with no coroutine of its own
        # (http.fused_head.FusedHead). Not when HTTPS is decided from sslProxyHeaders: those request headers are
        # read before the backend, and a fused response hook would read them after the inner layers ran. A layer
        # with nothing to do before the backend (the usual custom/security response headers) offers no request
        # hook, so a request pays one call for it, not two.
        request_side = self.cors or bool(self._request_ops) or self._secure_request
        # The security layer's response work is STS alone, and HTTPS is req.tls or the https scheme (_is_ssl).
        self._sts_only = self._sts_field is not None and not (
            self._ssl_host or self._secure_static or self._hpkp or self._csp_nonce_templates or self._ssl_proxy_headers
        )
        self.head_hooks = (
            None
            if self._ssl_proxy_headers
            else HeadHooks(self._on_request_head if request_side else None, self._response_hook())
        )

    def _response_hook(self) -> ResponseHook:
        """The fused response hook: one native call for the usual configurations (issue 22), else the method.

        Without CORS, a response gets STS (when that is the security layer's only response header) and the custom
        headers, all encoded above: :class:`ResponseHeaderEdits` makes exactly those edits.
        """
        if self.cors or (self._secure_response and not self._sts_only):
            return self._on_response_head
        sts_field = self._sts_field if self._secure_response else None
        return ResponseHeaderEdits(sts_field, self._force_sts, self._response_ops if self._outer else ())

    # -- request side ----------------------------------------------------------------------------------------------
    async def __call__(self, req: Request) -> Response:
        if self.cors and req.method == "OPTIONS":
            origin = req.headers.get("Origin")
            method = req.headers.get("Access-Control-Request-Method")
            if origin and method:
                return self._preflight(req, origin, method)
        if self._request_ops:
            self._modify_request(req)
        if self._secure:
            # The security layer (inside the custom headers): its host check and redirects answer before the
            # backend and get no security headers; `ssl` is decided before the backend, as unrolled/secure does.
            ssl = self._is_ssl(req)
            early = self._secure_answer(req, ssl) if self._secure_request else None
            if early is not None:
                response = early
            else:
                response = await self.next(req)
                if self._secure_response and not 100 <= response.status < 200:
                    self._add_secure_headers(response.headers, ssl)
        else:
            response = await self.next(req)
        if self._outer and not 100 <= response.status < 200:
            self._modify_response(req, response)
        return response

    def _on_request_head(self, req: Request) -> Response | None:
        """What ``__call__`` does before the backend: a preflight or security answer (finished), or None."""
        if self.cors and req.method == "OPTIONS":
            origin = req.headers.get("Origin")
            method = req.headers.get("Access-Control-Request-Method")
            if origin and method:
                return self._preflight(req, origin, method)
        if self._request_ops:
            self._modify_request(req)
        if self._secure_request:
            early = self._secure_answer(req, self._is_ssl(req))
            if early is not None:
                if self._outer and not 100 <= early.status < 200:
                    self._modify_response(req, early)
                return early
        return None

    def _on_response_head(self, req: Request, response: Response) -> None:
        """What ``__call__`` does to the backend's response (``_is_ssl`` reads no header here: see ``head_hooks``)."""
        if 100 <= response.status < 200:
            return
        if self._secure_response:
            if self._sts_only:
                # Only Strict-Transport-Security to add (the bench's and most configurations): inline, no calls.
                sts_field = self._sts_field
                if sts_field is not None and (self._force_sts or req.tls or req.scheme == "https"):
                    response.headers.set_field(b"strict-transport-security", sts_field)
            else:
                self._add_secure_headers(response.headers, self._is_ssl(req))
        if self._outer:
            self._modify_response(req, response)

    def _modify_request(self, req: Request) -> None:
        headers = req.headers
        for op, header, value in self._request_ops:
            if op == _SET:
                headers.set(header, value)
            elif op == _DELETE:
                headers.remove(header)
                if header.lower() == "x-forwarded-for":
                    # Traefik: an empty X-Forwarded-For omits the header upstream (the proxy must not re-add it).
                    req.omit_forwarded_for = True
            else:
                headers.set(header, value)
                req.host = _canonical_host(value)

    def _allow_origin(self, origin: str) -> str | None:
        """Return the ``Access-Control-Allow-Origin`` value for ``origin``, or None when it is not allowed."""
        for item in self._origin_list:
            if item == "*":
                if not self._credentials:
                    return "*"
                return origin or None  # credentials forbid the wildcard: echo the origin
            if item == origin:
                return item
        for regex in self._origin_regexes:
            if regex.is_match(origin):
                return origin
        return None

    def _preflight(self, req: Request, origin: str, method: str) -> Response:
        headers = Headers()
        if self._credentials:
            headers.add("Access-Control-Allow-Credentials", "true")
        if self._allow_headers_echo:
            requested = req.headers.get("Access-Control-Request-Headers")
            if requested:
                headers.add("Access-Control-Allow-Headers", requested)
        elif self._allow_headers:
            headers.add("Access-Control-Allow-Headers", self._allow_headers)
        if self._allow_methods_echo:
            headers.add("Access-Control-Allow-Methods", method)
        elif self._allow_methods:
            headers.add("Access-Control-Allow-Methods", self._allow_methods)
        allowed = self._allow_origin(origin)
        if allowed is not None:
            headers.add("Access-Control-Allow-Origin", allowed)
        headers.add("Access-Control-Max-Age", self._max_age)
        if self._expose_headers:
            headers.add("Access-Control-Expose-Headers", self._expose_headers)
        return Response(200, headers, b"")

    # -- security layer --------------------------------------------------------------------------------------------
    def _is_ssl(self, req: Request) -> bool:
        if req.tls or req.scheme == "https":
            return True
        if not self._ssl_proxy_headers:
            return False
        headers = req.headers
        return any((headers.get(name) or "") == value for name, value in self._ssl_proxy_headers)

    def _request_host(self, req: Request) -> str:
        headers = req.headers
        for name in self._hosts_proxy_headers:
            value = headers.get(name)
            if value:
                return value
        host = headers.get("Host")
        return req.host if host is None else host

    def _secure_answer(self, req: Request, ssl: bool) -> Response | None:
        """``500 Bad Host`` or an ``sslRedirect`` redirect, or None to go on to the backend."""
        host = self._request_host(req)
        allowed_hosts = self._allowed_hosts
        if allowed_hosts is not None and host.lower() not in allowed_hosts:
            return Response.text(500, "Bad Host\n")
        redirect = self._ssl_redirect_target(req, host, ssl)
        if redirect is not None:
            return _redirect(req, redirect, self._ssl_redirect_status)
        return None

    def _add_secure_headers(self, headers: Headers, ssl: bool) -> None:
        if self._ssl_host and ssl:
            self._fix_location(headers)
        if self._sts_field is not None and (ssl or self._force_sts):
            headers.set_field(b"strict-transport-security", self._sts_field)
        for name, value in self._secure_static:
            headers.set(name, value)
        if self._hpkp is not None and ssl:
            headers.set("Public-Key-Pins", self._hpkp)
        if self._csp_nonce_templates:
            nonce = f"'nonce-{base64.b64encode(secrets.token_bytes(16)).decode('ascii')}'"
            for name, template in self._csp_nonce_templates:
                headers.set(name, template.replace(_NONCE, nonce))

    def _ssl_redirect_target(self, req: Request, host: str, ssl: bool) -> str | None:
        """The deprecated ``sslRedirect`` / ``sslForceHost`` redirect target, or None to go on."""
        if self._ssl_redirect and not ssl:
            return f"https://{self._ssl_host or host}{req.url_path or '/'}"
        if self._ssl_force_host:
            target = self._ssl_host or host
            if target != host:
                return f"https://{target}{req.url_path or '/'}"
        return None

    def _fix_location(self, headers: Headers) -> None:
        location = headers.get("Location") or ""
        plain = f"http://{self._ssl_host}"
        if location == plain or location.startswith(plain + "/"):
            headers.set("Location", "https:" + location[5:])

    # -- response side ---------------------------------------------------------------------------------------------
    def _modify_response(self, req: Request, response: Response) -> None:
        headers = response.headers
        for name, key, field in self._response_ops:
            if field is None:
                headers.remove(name)
            else:
                headers.set_field(key, field)
        if not self.cors:
            return  # no CORS options: nothing more to add (and no Origin lookup per response)
        allowed = self._allow_origin(req.headers.get("Origin") or "")
        if allowed is not None:
            headers.set("Access-Control-Allow-Origin", allowed)
        if self._credentials:
            headers.set("Access-Control-Allow-Credentials", "true")
        if self._expose_headers:
            headers.set("Access-Control-Expose-Headers", self._expose_headers)
        if self._vary:
            vary = headers.get_all("Vary")
            if not vary:
                headers.set("Vary", "Origin")
            elif vary[0] != "Origin":
                # Traefik keeps only the first Vary value (issue #12214); all of them are kept here.
                headers.set("Vary", ",".join([*vary, "Origin"]))
