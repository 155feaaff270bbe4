"""One KrakenD backend as our data plane calls it (Lura ``proxy/http.go``, ``proxy/request.go``, ``sd``).

Built once per configuration: the ``url_pattern`` compiled into literal parts and parameter slots, one
:class:`~hanzo_edge.http.proxy.ServerTarget` per host (round-robin, as Lura with one CPU), the header and query
allow-lists. Per request it makes the backend :class:`Request` KrakenD sends:

* headers: only the endpoint's ``input_headers`` (``Content-Type`` by default; ``*`` for all), then
  ``X-Forwarded-For: <client ip>`` (one value), ``X-Forwarded-Host: <request host>``, ``User-Agent: KrakenD Version
  2.13.8`` unless the client's is forwarded (then ``X-Forwarded-Via``), ``Accept-Encoding: gzip`` unless forwarded,
  a ``Range`` is forwarded, the backend method is ``HEAD`` or ``disable_compression`` is set (Go's Transport adds it
  only then; ``DisableCompression``: no gzip asked for, none decoded);
  ``Host`` is the backend's;
* query: only ``input_query_strings`` (``*`` for all), appended to the pattern's own query, keys sorted as Go's
  ``url.Values.Encode``;
* redirects 301/302/303/307/308 are followed (up to 10), as Go's client does (not a 307/308 of a streamed body).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit

from hanzo_edge.http.body import BodyRelay, StreamBody
from hanzo_edge.http.errors import UpstreamError
from hanzo_edge.http.forwarded import MANAGED_HEADERS
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.http.pool import PoolRegistry, TransportOptions
from hanzo_edge.http.proxy import ServerTarget

__all__ = [
    "KRAKEND_NAME",
    "KRAKEND_VERSION",
    "REDIRECTS",
    "USER_AGENT",
    "BackendCall",
    "GunzipRelay",
    "HeaderPolicy",
    "QueryPolicy",
    "forwarded_policy_names",
]

KRAKEND_NAME = "KrakenD"
KRAKEND_VERSION = "2.13.8"
USER_AGENT = f"{KRAKEND_NAME} Version {KRAKEND_VERSION}".encode()
_PLACEHOLDER = re.compile(r"\{([^}]+)\}")
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
REDIRECTS = _REDIRECTS
"""The backend statuses Go's client follows."""
_MAX_REDIRECTS = 10
# Headers our proxy path writes itself, and the X-Forwarded-* the entrypoint sets (its trust boundary already
# dropped the client's copies): none is forwarded, even under `input_headers: ["*"]`, as KrakenD sets no such header.
_MANAGED = MANAGED_HEADERS | {b"host", b"content-length", b"transfer-encoding"}


def forwarded_policy_names(policy: HeaderPolicy) -> tuple[frozenset[bytes], frozenset[bytes]]:
    """The lower-case names never forwarded whatever the policy, and the names ``policy`` lists that are forwarded
    (a listed managed name is not)."""
    return _MANAGED, policy.names - _MANAGED


class HeaderPolicy:
    """Which client headers reach the backend: a set of lower-case names, or all of them (``*``)."""

    __slots__ = ("all", "names")

    def __init__(self, allowed: Sequence[str]) -> None:
        self.all = "*" in allowed
        self.names = frozenset(name.lower().encode("latin-1") for name in allowed)

    def allows(self, lname: bytes) -> bool:
        """True when a header of lower-case name ``lname`` is forwarded."""
        return self.all or lname in self.names


class QueryPolicy:
    """Which query parameters reach the backend (case-sensitive names, or ``*``)."""

    __slots__ = ("all", "names")

    def __init__(self, allowed: Sequence[str]) -> None:
        self.all = "*" in allowed
        self.names = frozenset(allowed)

    def filter(self, query: str) -> str:
        """The allowed parameters of ``query`` encoded as Go's ``url.Values.Encode`` (sorted keys; "" when none)."""
        if not query or not (self.all or self.names):
            return ""
        pairs = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if self.all or k in self.names]
        pairs.sort(key=lambda kv: kv[0])  # stable: values of one key keep their order
        return urlencode(pairs)


class BackendCall:
    """Calls one backend for one endpoint request; see the module docstring."""

    __slots__ = (
        "_fixed",
        "_next",
        "_no_gzip",
        "_parts",
        "has_query",
        "headers",
        "method",
        "options",
        "pools",
        "query",
        "targets",
        "url_pattern",
    )

    def __init__(
        self,
        url_pattern: str,
        hosts: Sequence[str],
        method: str,
        headers: HeaderPolicy,
        query: QueryPolicy,
        pools: PoolRegistry,
        options: TransportOptions,
    ) -> None:
        self.url_pattern = url_pattern
        self.method = method
        self.headers = headers
        self.query = query
        self.pools = pools
        self.options = options
        # Go's Transport asks for gzip (and decodes it) only when DisableCompression is off and the request is no
        # HEAD and has neither an Accept-Encoding nor a Range of its own (transport.go, requestedGzip): with it on, or
        # for a HEAD backend, every request is as if the client's Accept-Encoding were forwarded.
        self._no_gzip = options.disable_compression or method == "HEAD"
        self.has_query = "?" in url_pattern
        # Literal text and parameter names alternate: ["/users/", "id", "/posts"].
        self._parts: list[str] = _PLACEHOLDER.split(url_pattern)
        # A pattern without {param} is the same path and query on every request: split once, here.
        self._fixed: tuple[str, str] | None = None
        if len(self._parts) == 1:
            path, _, pattern_query = url_pattern.partition("?")
            self._fixed = (path, pattern_query)
        self.targets = [
            ServerTarget(host, pools, options, pass_host_header=False, preserve_path=True) for host in hosts
        ]
        self._next = 0  # round-robin position: one counter for every caller (the no-op fast path takes turns too)

    @property
    def asks_gzip(self) -> bool:
        """False when ``disable_compression`` or a ``HEAD`` backend keeps every request from asking for gzip."""
        return not self._no_gzip

    @property
    def fixed(self) -> tuple[str, str] | None:
        """The backend path and the pattern's query when ``url_pattern`` has no ``{param}``, else None."""
        return self._fixed

    def next_index(self) -> int:
        """The index in :attr:`targets` of the host to call next (round-robin, as Lura with one CPU)."""
        index = self._next
        following = index + 1
        self._next = 0 if following >= len(self.targets) else following
        return index

    def path_for(self, params: dict[str, str]) -> str:
        """The url_pattern with ``{param}`` filled (a missing one stays empty, as Lura)."""
        parts = self._parts
        if len(parts) == 1:
            return parts[0]
        out = []
        for i, part in enumerate(parts):
            out.append(part if i % 2 == 0 else params.get(part, ""))
        return "".join(out)

    def path_and_query(self, req: Request, params: dict[str, str]) -> tuple[str, str]:
        """The backend path and query for ``req``: the pattern's query, then the allowed client parameters."""
        fixed = self._fixed
        if fixed is not None:
            path, pattern_query = fixed
        else:
            path, _, pattern_query = self.path_for(params).partition("?")
        query = self.query.filter(req.query) if req.query else ""
        if pattern_query:
            query = f"{pattern_query}&{query}" if query else pattern_query
        return path, query

    def request_for(self, req: Request, params: dict[str, str], body: bytes | StreamBody) -> tuple[Request, bool]:
        """The backend request for ``req``, and whether we asked for gzip (so a gzip answer is ours to decode)."""
        path, query = self.path_and_query(req, params)
        raw: list[tuple[bytes, bytes]] = []
        policy = self.headers
        forwarded_ua = False
        no_gzip = self._no_gzip  # the Transport's requestedGzip, negated
        host: bytes | None = None
        for name, value in req.headers.raw:
            lname = name.lower()
            if lname in _MANAGED or not policy.allows(lname):
                if host is None and lname == b"host":
                    host = value  # the first Host field, found in this pass rather than another one
                continue
            if lname == b"user-agent":
                forwarded_ua = True
            elif lname == b"accept-encoding" or (lname == b"range" and value):
                no_gzip = True  # Go reads Header.Get: an empty Range is no range
            raw.append((name, value))
        if host is not None:
            raw.append((b"X-Forwarded-Host", host))
        if forwarded_ua:
            raw.append((b"X-Forwarded-Via", USER_AGENT))
        else:
            raw.append((b"User-Agent", USER_AGENT))
        if not no_gzip:
            raw.append((b"Accept-Encoding", b"gzip"))
        backend = Request(
            self.method,
            f"{path}?{query}" if query else path,
            Headers(raw),
            path=path,
            query=query,
            host=req.host,
            client_ip=req.client_ip,
            scheme="http",
            body=body,
        )
        return backend, not no_gzip

    async def send(self, backend: Request) -> Response:
        """Send ``backend`` to the next host, following redirects. Raises UpstreamError."""
        target = self.targets[self.next_index()]
        response = await target(backend)
        if response.status not in _REDIRECTS:
            return response  # the usual answer: nothing below (URL parsing for redirects) is needed
        return await self.follow(backend, target, response)

    async def follow(self, backend: Request, target: ServerTarget, response: Response) -> Response:
        """Follow the redirect ``response`` that ``target`` gave to ``backend``, as Go's client does (up to 10)."""
        initial_addr = _canonical_addr(target.url)
        initial_headers = backend.headers
        for _ in range(_MAX_REDIRECTS):
            if response.status not in _REDIRECTS:
                return response
            location = response.headers.get("location")
            if not location:
                return response
            if response.status in (307, 308) and isinstance(backend.body, StreamBody):
                # A streamed body is gone once sent and 307/308 must resend it: Go's client does not follow then
                # (no GetBody), the redirect is the answer. Following waited for a body that never came.
                return response
            _discard(response)
            referer = f"{target.url}{backend.url_path}"
            try:
                url = urljoin(referer, location)
                scheme_host, _, rest = url.partition("://")
                netloc, _, path_query = rest.partition("/")
                target = ServerTarget(f"{scheme_host}://{netloc}", self.pools, self.options, pass_host_header=False)
            except ValueError as exc:  # a Location we cannot follow (ftp:, mailto:, a broken URL): the call fails
                raise UpstreamError(f"redirect to {location!r}: {exc}") from None
            path, _, query = ("/" + path_query).partition("?")
            method = backend.method
            body = backend.body
            if response.status in (301, 302, 303) and method not in ("GET", "HEAD"):
                method, body = "GET", b""
            headers = initial_headers.copy()
            if not _same_or_subdomain(_canonical_addr(target.url), initial_addr):
                # Go's client keeps credentials only for the initial host and its subdomains: a backend's redirect
                # elsewhere must not carry the client's Authorization or cookies there.
                for name in _SENSITIVE_ON_REDIRECT:
                    headers.remove(name)
            headers.set("Referer", referer)
            if not body:
                headers.remove("Content-Type")
            backend = Request(
                method,
                quote(path, safe="/%:@!$&'()*+,;=-._~"),
                headers,
                path=path,
                query=query,
                host=backend.host,
                client_ip=backend.client_ip,
                body=body,
            )
            response = await target(backend)
        raise UpstreamError("stopped after 10 redirects")


_SENSITIVE_ON_REDIRECT = ("Authorization", "Www-Authenticate", "Cookie", "Cookie2")


def _canonical_addr(url: str) -> str:
    """Go's ``canonicalAddr``: the lower-cased host with its port (80/443 when the URL has none)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{host}:{port}"


def _same_or_subdomain(addr: str, parent: str) -> bool:
    """Go's ``isDomainOrSubdomain`` over canonical addresses."""
    return addr == parent or addr.endswith("." + parent)


def _discard(response: Response) -> None:
    if isinstance(response.body, StreamBody):
        response.body.discard(drain_up_to=64 * 1024)


class GunzipRelay(BodyRelay):
    """A gzip body continued as its decoded bytes, chunk by chunk (Go's transport decodes the gzip it asked for)."""

    __slots__ = ("_decoder",)

    def __init__(self, inner: StreamBody) -> None:
        self._decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        super().__init__(inner, StreamBody(None, None, inner.high_water))

    def write(self, chunk: bytes) -> None:
        """Decode one chunk."""
        try:
            data = self._decoder.decompress(chunk)
        except zlib.error as exc:
            self.body.feed_error(UpstreamError(f"gzip: {exc}"))
            self.inner.discard()
            return
        if data:
            self.body.feed(data)

    def write_eof(self) -> None:
        """The end: flush what the decoder holds."""
        try:
            rest = self._decoder.flush()
        except zlib.error as exc:
            self.body.feed_error(UpstreamError(f"gzip: {exc}"))
            return
        if rest:
            self.body.feed(rest)
        self.body.feed_eof()
