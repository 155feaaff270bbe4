"""The no-op endpoint's fast path: KrakenD's backend request written straight into the upstream request head.

The general no-op path (``MergeService._noop``) makes a second :class:`~hanzo_edge.http.messages.Request` with
:meth:`BackendCall.request_for <hanzo_edge.gateway.backend.BackendCall.request_for>`, lets
:class:`~hanzo_edge.http.proxy.ServerTarget` write its head in a second pass over the headers, and bounds the call
with an ``asyncio.timeout`` context. For an endpoint that needs nothing more (see :func:`fast_noop`), this handler
does the same work once per request:

* one pass over the client's headers applies the ``input_headers`` policy through a table built once per
  configuration generation, and the head is written as it goes: the same bytes the general path sends
  (``tests/unit/gateway/test_g18hot_differential.py`` checks them against each other);
* the request line and ``Host`` of a ``url_pattern`` without ``{param}`` are built once per backend host;
* the head goes to the same ``ServerTarget`` (:meth:`~hanzo_edge.http.proxy.ServerTarget.exchange`: pools,
  stale-connection retry), with the endpoint ``timeout`` as a deadline the connection's own response-header timer
  enforces instead of a second timeout context;
* the answer is the general path's (``X-Krakend`` pair, gzip we asked for decoded), and so are failures (500).

A request this path does not cover takes the general path unchanged: tracing on (the backend call gets its client
span there), or a header the policy forwards that the proxy rewrites (``Connection``, ``TE``, ``Expect``,
``traceparent``, ...; only ``input_headers`` naming them, or ``*``, lets one through). A redirect from the backend is
followed by the general path's :meth:`BackendCall.follow <hanzo_edge.gateway.backend.BackendCall.follow>` in the
time left.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from time import perf_counter

from hanzo_edge.gateway.backend import REDIRECTS, USER_AGENT, BackendCall, forwarded_policy_names
from hanzo_edge.http.body import StreamBody
from hanzo_edge.http.errors import UpstreamError
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.http.proxy import STRIPPED_UPSTREAM, ServerTarget

__all__ = ["NoopFastPath", "fast_noop"]

log = logging.getLogger("hanzo_edge.gateway")

# What one client header is to the backend request: copied, dropped, the Host (kept for X-Forwarded-Host), a header
# the proxy would rewrite (the general path handles the request), or the User-Agent / Accept-Encoding KrakenD
# replaces unless they are forwarded.
_COPY, _DROP, _HOST, _GENERAL, _USER_AGENT, _ACCEPT_ENCODING = range(6)
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})  # http/proxy.py sends Content-Length: 0 for these


def _tail(forwarded_ua: bool, forwarded_ae: bool) -> bytes:
    """The header lines KrakenD adds after the client's: its User-Agent (or X-Forwarded-Via) and Accept-Encoding."""
    tail = (b"X-Forwarded-Via: " if forwarded_ua else b"User-Agent: ") + USER_AGENT + b"\r\n"
    return tail if forwarded_ae else tail + b"Accept-Encoding: gzip\r\n"


class NoopFastPath:
    """The handler of a no-op endpoint on the fast path (see the module docstring)."""

    __slots__ = (
        "_body_method",
        "_call",
        "_default",
        "_fail",
        "_finish",
        "_fixed_lines",
        "_general",
        "_head_request",
        "_kinds",
        "_no_gzip",
        "_params_of",
        "_tails",
        "_timeout",
    )

    def __init__(
        self,
        call: BackendCall,
        timeout: float,
        params_of: Callable[[str], dict[str, str]],
        finish: Callable[[Response, bool], Response],
        fail: Callable[[], Response],
        general: Handler,
    ) -> None:
        self._call = call
        self._timeout = timeout
        self._params_of = params_of
        self._finish = finish
        self._fail = fail
        self._general = general
        self._head_request = call.method == "HEAD"
        self._body_method = call.method in _BODY_METHODS
        self._tails = ((_tail(False, False), _tail(False, True)), (_tail(True, False), _tail(True, True)))
        self._kinds, self._default = _header_kinds(call)
        # disable_compression or a HEAD backend: the tail never asks for gzip, as if the client's were forwarded.
        self._no_gzip = not call.asks_gzip
        # A url_pattern without {param}, and a request whose query the policy drops entirely: the request line and
        # Host of each backend host are the same on every request.
        self._fixed_lines: list[bytes] | None = None
        fixed = call.fixed
        if fixed is not None and not (call.query.all or call.query.names):
            path, query = fixed
            self._fixed_lines = [_line(call.method, target, path, query) for target in call.targets]

    async def __call__(self, req: Request) -> Response:
        """Serve one request of the endpoint."""
        built = self.head_for(req) if req.trace is None else None
        if built is None:
            return await self._general(req)
        head, chunked, asked_gzip, target, params = built
        req.server_url = target.url
        started = req.origin_started = perf_counter()
        deadline = started + self._timeout
        try:
            response = await target.exchange(req, head, chunked, self._head_request, deadline)
            if response.status in REDIRECTS:
                response = await self._follow(req, params, target, response, deadline)
        except (UpstreamError, TimeoutError, OSError) as exc:
            log.debug("no-op backend %s failed: %s", self._call.url_pattern, exc)
            return self._fail()
        return self._finish(response, asked_gzip)

    def head_for(self, req: Request) -> tuple[bytes, bool, bool, ServerTarget, dict[str, str] | None] | None:
        """The backend request head for ``req``, whether its body is chunked, whether we asked for gzip, the host it
        is for (this takes the host's round-robin turn) and the endpoint parameters when they were needed; None when
        the request needs the general path."""
        parts = [b""]  # the request line and Host, once the host is picked
        kinds = self._kinds
        default = self._default
        forwarded_ua = False
        forwarded_ae = self._no_gzip
        host: bytes | None = None
        for name, value in req.headers.raw:
            kind = kinds.get(name.lower(), default)
            if kind == _COPY:
                parts += (name, b": ", value, b"\r\n")
            elif kind == _DROP:
                continue
            elif kind == _HOST:
                if host is None:
                    host = value  # the first Host field, as the general path
            elif kind == _GENERAL:
                return None
            else:
                forwarded_ua = forwarded_ua or kind == _USER_AGENT
                forwarded_ae = forwarded_ae or kind == _ACCEPT_ENCODING
                parts += (name, b": ", value, b"\r\n")
        if host is not None:
            parts += (b"X-Forwarded-Host: ", host, b"\r\n")
        parts += (self._tails[forwarded_ua][forwarded_ae], b"X-Forwarded-For: ", req.client_ip.encode("latin-1"))
        body = req.body
        chunked = False
        if type(body) is bytes:
            parts.append(b"\r\nContent-Length: %d\r\n\r\n" % len(body) if body or self._body_method else b"\r\n\r\n")
        elif isinstance(body, StreamBody) and body.length is not None:
            parts.append(b"\r\nContent-Length: %d\r\n\r\n" % body.length)
        else:
            parts.append(b"\r\nTransfer-Encoding: chunked\r\n\r\n")
            chunked = True
        call = self._call
        index = call.next_index()
        target = call.targets[index]
        fixed_lines = self._fixed_lines
        params: dict[str, str] | None = None
        if fixed_lines is not None:
            parts[0] = fixed_lines[index]
        else:
            params = self._params_of(req.path)
            path, query = call.path_and_query(req, params)
            parts[0] = _line(call.method, target, path, query)
        return b"".join(parts), chunked, not forwarded_ae, target, params

    async def _follow(
        self, req: Request, params: dict[str, str] | None, target: ServerTarget, response: Response, deadline: float
    ) -> Response:
        """A redirect: the general path's backend request follows it, within the endpoint timeout's time left."""
        if params is None:
            params = self._params_of(req.path)
        backend, _ = self._call.request_for(req, params, req.body)
        async with asyncio.timeout(max(deadline - perf_counter(), 0.0)):
            return await self._call.follow(backend, target, response)


def _line(method: str, target: ServerTarget, path: str, query: str) -> bytes:
    """The request line and ``Host`` for ``target``, as :func:`~hanzo_edge.http.proxy.build_request_head` writes
    them for the general path's backend request (``preservePath``: the host URL's path in front)."""
    path = path or "/"
    prefix = target.path_prefix
    if prefix:
        path = prefix + path if path.startswith("/") else f"{prefix}/{path}"
    request_target = f"{path}?{query}" if query else path
    return f"{method} {request_target} HTTP/1.1\r\nHost: ".encode("latin-1") + target.host_header + b"\r\n"


def _header_kinds(call: BackendCall) -> tuple[dict[bytes, int], int]:
    """The header table of the fast path: lower-case name → what it is to the backend request, and the kind of a
    name not in the table (copied under ``*``, dropped otherwise)."""
    policy = call.headers
    managed, forwarded = forwarded_policy_names(policy)
    kinds: dict[bytes, int] = dict.fromkeys(managed, _DROP)
    kinds[b"host"] = _HOST
    # Rewritten by the proxy when forwarded (hop-by-hop, Expect, traceparent, ...): the general path decides.
    rewritten = STRIPPED_UPSTREAM - managed
    if policy.all:
        kinds.update(dict.fromkeys(rewritten, _GENERAL))
    else:
        for name in forwarded:
            kinds[name] = _GENERAL if name in rewritten else _COPY
    if policy.all or b"user-agent" in forwarded:
        kinds[b"user-agent"] = _USER_AGENT
    if policy.all or b"accept-encoding" in forwarded:
        kinds[b"accept-encoding"] = _ACCEPT_ENCODING
    if policy.all or b"range" in forwarded:
        # A forwarded Range keeps Go's Transport from asking for gzip: rare enough for the general path to decide.
        kinds[b"range"] = _GENERAL
    return kinds, (_COPY if policy.all else _DROP)


def fast_noop(
    call: BackendCall,
    timeout: float,
    params_of: Callable[[str], dict[str, str]],
    finish: Callable[[Response, bool], Response],
    fail: Callable[[], Response],
    general: Handler,
) -> NoopFastPath | None:
    """The fast handler of a no-op endpoint's only backend ``call``, or None when the endpoint needs the general path
    for every request: a timeout that is no deadline, or a ``url_pattern`` or host the request line cannot carry
    (the general path answers those as it always has). The caller checks the rest: one backend, no backend
    namespaces, no /__stats."""
    if not (timeout > 0 and math.isfinite(timeout)):
        return None
    try:
        call.url_pattern.encode("latin-1")
        call.method.encode("latin-1")
    except UnicodeEncodeError:
        return None
    if not call.targets or any(type(target) is not ServerTarget for target in call.targets):
        return None
    return NoopFastPath(call, timeout, params_of, finish, fail, general)
