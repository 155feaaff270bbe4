"""The ``gatewayMerge`` service kind: one KrakenD endpoint's proxy (Lura ``proxy`` + ``router/gin/endpoint.go``).

Registered in the service registry like Traefik's kinds, so the one builder builds it, memoises it across
generations and a router's middlewares (JWT, rate limits) wrap it.

* ``no-op``: one backend; the request body streams up, the response (status, headers, body) streams back as it
  arrives, with ``X-Krakend`` and ``X-Krakend-Completed: false`` added (KrakenD copies it after buffering; we never
  buffer, so SSE and the seed's AI routes stream). A gzip answer we asked for is decoded on the way.
* otherwise: every backend is called concurrently (``concurrent_calls`` copies each, first success wins), each
  answer decoded (:mod:`.encodings`) and formatted (:mod:`.manipulate`), the parts merged shallowly in backend
  order. Only 200 and 201 are accepted from a backend. The endpoint answers 200 with the rendered merge
  (``X-Krakend-Completed: true`` only when every part arrived whole), 500 when no part did (the failing backend's
  status with ``return_error_code``; the error text as body with the router's ``return_error_msg``), a failing
  backend with ``return_error_details`` contributes ``error_<name>`` instead of failing. With more than one
  backend the parts have 85% of the endpoint timeout; a single backend has all of it. ``Cache-Control: public,
  max-age=N`` only on a complete answer with ``cache_ttl``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from time import perf_counter
from typing import Any

import msgspec

from hanzo_edge.gateway.backend import KRAKEND_VERSION, BackendCall, GunzipRelay, HeaderPolicy, QueryPolicy
from hanzo_edge.gateway.backend_chain import wrap_backend
from hanzo_edge.gateway.document import BackendModel, EndpointModel
from hanzo_edge.gateway.encodings import DecodeError, decode, render
from hanzo_edge.gateway.manipulate import Formatter, apply_flatmap
from hanzo_edge.gateway.noop_fast import fast_noop
from hanzo_edge.gateway.sequential import run_sequential, wanted_params
from hanzo_edge.gateway.shadow import ShadowCalls
from hanzo_edge.gateway.static_proxy import StaticResponse, static_matches
from hanzo_edge.gateway.stats import LayerCells, backend_name, endpoint_name
from hanzo_edge.gateway.stats import active as active_stats
from hanzo_edge.http.body import BodyError, StreamBody
from hanzo_edge.http.errors import UpstreamError
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.services.registry import ServiceContext, ServiceKind, register_service

__all__ = ["MergeConfig", "MergeService", "krakend_headers"]

log = logging.getLogger("hanzo_edge.gateway")

# A backend answer larger than this is an error for a merging endpoint (no-op streams and has no such limit).
MAX_BACKEND_BODY = 64 * 1024 * 1024
_ACCEPTED = (200, 201)


class MergeConfig(msgspec.Struct, frozen=True, kw_only=True):
    """The ``gatewayMerge`` service model: an endpoint and the router options its responses depend on."""

    endpoint: EndpointModel
    return_error_msg: bool = False
    hide_version_header: bool = False
    # Part 2 (gateway/backend_chain.py, sequential.py, static_proxy.py, shadow.py): each backend's wrappers (typed
    # middleware options, outermost first), which backends are shadows, the sequential flag and proxy.static.
    backend_wrappers: tuple[tuple[Any, ...], ...] = ()
    shadow: tuple[bool, ...] = ()
    sequential: bool = False
    static: StaticResponse | None = None


def krakend_headers(hide_version: bool) -> tuple[bytes, bytes]:
    """The ``X-Krakend`` value (``Version undefined`` with ``hide_version_header``) and the header name."""
    return b"X-Krakend", (b"Version undefined" if hide_version else f"Version {KRAKEND_VERSION}".encode())


@dataclass(slots=True)
class _Part:
    """One backend's contribution: data (None when it failed), whether it is whole, and why not."""

    data: dict[str, Any] | None
    complete: bool = True
    error: str = ""
    status: int = 0
    body: bytes = b""
    content_type: bytes = b""
    code_passthrough: bool = False


class _Backend:
    """One backend of the endpoint: its caller, decoder settings, formatter and error options."""

    __slots__ = ("call", "details", "encoding", "error_code", "formatter", "is_collection", "model", "send", "stats")

    def __init__(
        self, model: BackendModel, endpoint: EndpointModel, ctx: ServiceContext, wrappers: tuple[Any, ...] = ()
    ) -> None:
        self.model = model
        # /__stats' backend layer (gateway/stats.py), None without telemetry/metrics or with backend_disabled.
        collector = active_stats()
        self.stats = collector.layer_cells("backend", backend_name(model.url_pattern)) if collector else None
        headers = model.input_headers if model.input_headers is not None else endpoint.input_headers
        query = model.input_query_strings if model.input_query_strings is not None else endpoint.input_query_strings
        self.call = BackendCall(
            model.url_pattern,
            model.hosts,
            model.method,
            HeaderPolicy(headers),
            QueryPolicy(query),
            ctx.pools,
            ctx.transport(""),
        )
        # The backend's own namespaces (breaker, proxy rate limit, martian, cache) wrap its call.
        self.send: Handler = self.call.send
        if wrappers:
            self.send = wrap_backend(self.call.send, wrappers, name=ctx.name, origin=";".join(model.hosts))
        self.encoding = model.encoding
        self.is_collection = model.is_collection
        self.details = model.return_error_details
        self.error_code = model.return_error_code
        self.formatter = Formatter(
            target=model.target,
            allow=model.allow,
            deny=model.deny,
            mapping=model.mapping,
            group=model.group,
            flatmap=model.flatmap_filter,
        )

    async def fetch(self, req: Request, params: dict[str, str], body: bytes) -> _Part:
        """Call the backend once and turn its answer into a part (never raises but for cancellation)."""
        cells = self.stats
        if cells is None:
            return await self._fetch(req, params, body)
        started = perf_counter()
        part = await self._fetch(req, params, body)
        failed = part.data is None or bool(part.error)  # Lura's backend proxy returned an error
        cells.record(part.complete and not failed, failed, perf_counter() - started)
        return part

    async def _fetch(self, req: Request, params: dict[str, str], body: bytes) -> _Part:
        backend, asked_gzip = self.call.request_for(req, params, body)
        try:
            response = await self.send(backend)
            raw = await _read(response, asked_gzip)
        except (UpstreamError, BodyError, OSError) as exc:
            return _Part(None, False, f"{self.call.method} {self.call.url_pattern}: {exc}")
        status = response.status
        if status not in _ACCEPTED:
            content_type = (response.headers.get("content-type") or "").encode("latin-1")
            url = f"{backend.server_url}{backend.url_path}"
            message = f"invalid status code {status} [{self.call.method} {self.call.url_pattern}]: {url}"
            if self.details:
                info = {"http_status_code": status, "http_body": raw.decode("utf-8", "replace")}
                info["http_body_encoding"] = content_type.decode("latin-1")
                return _Part({f"error_{self.details}": info}, False, message)
            return _Part(None, False, message, status, raw, content_type, self.error_code)
        try:
            return _Part(self.formatter(decode(self.encoding, raw, self.is_collection)))
        except (DecodeError, RecursionError) as exc:  # RecursionError: nesting too deep to decode or walk
            return _Part(None, False, f"{self.call.method} {self.call.url_pattern}: {exc}")

    async def fetch_concurrent(self, req: Request, params: dict[str, str], body: bytes, copies: int) -> _Part:
        """``concurrent_calls``: ``copies`` identical calls, the first success wins (the others are cancelled)."""
        if copies <= 1:
            return await self.fetch(req, params, body)
        tasks = [asyncio.ensure_future(self.fetch(req, params, body)) for _ in range(copies)]
        last = _Part(None, False, "no answer")
        try:
            for next_done in asyncio.as_completed(tasks):
                last = await next_done
                if last.data is not None:
                    return last
            return last
        finally:
            for task in tasks:
                task.cancel()


def _gzip_encoded(raw: list[tuple[bytes, bytes]]) -> bool:
    """True when the first ``Content-Encoding`` field of a response is ``gzip``."""
    for name, value in raw:
        if len(name) == 16 and name.lower() == b"content-encoding":  # the length test spares the other names a copy
            return value.lower() == b"gzip"
    return False


async def _read(response: Response, asked_gzip: bool) -> bytes:
    body = response.body
    raw = body if isinstance(body, bytes) else await body.read(MAX_BACKEND_BODY)
    encoding = (response.headers.get("content-encoding") or "").lower()
    if asked_gzip and encoding == "gzip" and raw:
        # Bounded: a small gzip body must not inflate past the limit (a decompression bomb).
        decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            raw = decoder.decompress(raw, MAX_BACKEND_BODY)
        except zlib.error as exc:
            raise UpstreamError(f"gzip: {exc}") from None
        if decoder.unconsumed_tail:
            raise UpstreamError(f"gzip: body larger than {MAX_BACKEND_BODY} bytes once decoded")
    return raw


class MergeService:
    """The handler of one endpoint (see the module docstring)."""

    __slots__ = (
        "_backends",
        "_cache_control",
        "_noop_headers",
        "_param_slots",
        "_pipe",
        "_resp_params",
        "_shadow_calls",
        "_shadows",
        "_static_data",
        "_version",
        "config",
        "noop",
        "timeout",
    )

    def __init__(self, config: MergeConfig, ctx: ServiceContext) -> None:
        self.config = config
        endpoint = config.endpoint
        wrappers = config.backend_wrappers or tuple(() for _ in endpoint.backends)
        shadow = config.shadow or tuple(False for _ in endpoint.backends)
        built = [_Backend(b, endpoint, ctx, w) for b, w in zip(endpoint.backends, wrappers, strict=True)]
        self._backends = [b for b, is_shadow in zip(built, shadow, strict=True) if not is_shadow]
        self._shadows = [b for b, is_shadow in zip(built, shadow, strict=True) if is_shadow]
        self._shadow_calls = ShadowCalls(endpoint.timeout)
        self._resp_params = wanted_params([b.url_pattern for b in endpoint.backends]) if config.sequential else []
        self._static_data = config.static.decoded() if config.static is not None else None
        self.noop = endpoint.output_encoding == "no-op"
        self.timeout = endpoint.timeout
        ttl = int(endpoint.cache_ttl)
        self._cache_control = f"public, max-age={ttl}".encode() if ttl else b""
        self._version = krakend_headers(config.hide_version_header)[1]
        # What every no-op answer gets, built once per configuration generation.
        self._noop_headers = ((b"X-Krakend", self._version), (b"X-Krakend-Completed", b"false"))
        # /__stats' proxy layer ("pipe", named by the endpoint path): None without it.
        collector = active_stats()
        self._pipe: LayerCells | None = (
            collector.layer_cells("pipe", endpoint_name(endpoint.endpoint)) if collector else None
        )
        # Which segment of the request path holds each parameter (gin matched the path segment for segment).
        self._param_slots: list[tuple[int, str]] = [
            (i, s[1:-1]) for i, s in enumerate(endpoint.endpoint.split("/")) if s.startswith("{") and s.endswith("}")
        ]

    def params_of(self, path: str) -> dict[str, str]:
        """The endpoint's parameters in ``path`` (already matched by the gin table)."""
        if not self._param_slots:
            return {}
        segments = path.split("/")
        return {name: segments[i] if i < len(segments) else "" for i, name in self._param_slots}

    async def __call__(self, req: Request) -> Response:
        """Serve one request of the endpoint."""
        if self.noop:
            return await self._noop(req)
        return await self._merge(req)

    # -- no-op: a streaming proxy ----------------------------------------------------------------------------------
    async def _noop(self, req: Request) -> Response:
        backend = self._backends[0]
        outgoing, asked_gzip = backend.call.request_for(req, self.params_of(req.path), req.body)
        started = perf_counter()
        try:
            # The endpoint timeout bounds the wait for the head only: the body then streams for as long as it lasts.
            async with asyncio.timeout(self.timeout):
                response = await backend.send(outgoing)
        except (UpstreamError, TimeoutError, OSError) as exc:
            log.debug("no-op backend %s failed: %s", backend.call.url_pattern, exc)
            self._count_noop(backend, started, False)
            self._origin_of(req, outgoing)
            return self.noop_failure()
        self._count_noop(backend, started, True)
        self._origin_of(req, outgoing)
        return self.noop_answer(response, asked_gzip)

    @staticmethod
    def _origin_of(req: Request, outgoing: Request) -> None:
        # The access log reads the backend call off the client's request (ServiceURL, origin duration), as the fast
        # path (gateway/noop_fast.py), which sends the client's request object itself, leaves them.
        req.server_url = outgoing.server_url
        req.origin_started = outgoing.origin_started

    def noop_answer(self, response: Response, asked_gzip: bool) -> Response:
        """The no-op answer: the backend's response as it streams, a gzip body we asked for decoded on the way, and
        KrakenD's ``X-Krakend`` pair."""
        headers = response.headers
        body = response.body
        if asked_gzip and isinstance(body, StreamBody) and _gzip_encoded(headers.raw):
            response.body = GunzipRelay(body).body
            headers.remove("Content-Encoding")
            headers.remove("Content-Length")
        headers.raw.extend(self._noop_headers)
        return response

    def noop_failure(self) -> Response:
        """The no-op answer when the backend gave no response head (Lura's no-op proxy error): an empty 500."""
        return self._error(500, b"", b"")

    def fast_noop(self, general: Handler) -> Handler | None:
        """The no-op fast path (:mod:`.noop_fast`) when this endpoint can take it, falling back to ``general``
        (:meth:`_noop`, possibly wrapped) per request; None when it cannot: several or shadow backends, backend
        namespaces, or /__stats to count into."""
        if not self.noop or len(self._backends) != 1 or self._shadows or self._pipe is not None:
            return None
        backend = self._backends[0]
        if backend.stats is not None or backend.send != backend.call.send:
            return None
        return fast_noop(backend.call, self.timeout, self.params_of, self.noop_answer, self.noop_failure, general)

    def _count_noop(self, backend: _Backend, started: float, answered: bool) -> None:
        """/__stats: a no-op call is complete whatever its status (Lura's no-op status handler), an error when the
        backend did not answer."""
        if backend.stats is None and self._pipe is None:
            return  # no /__stats: nothing to count
        elapsed = perf_counter() - started
        for cells in (backend.stats, self._pipe):
            if cells is not None:
                cells.record(answered, not answered, elapsed)

    # -- merging -------------------------------------------------------------------------------------------------
    async def _merge(self, req: Request) -> Response:
        started = perf_counter() if self._pipe is not None else 0.0
        # A body too large for the entrypoint's limit raises BodyTooLarge here: the pipeline answers 413.
        body = req.body if isinstance(req.body, bytes) else await req.body.read()
        params = self.params_of(req.path)
        copies = self.config.endpoint.concurrent_calls
        backends = self._backends
        for shadow in self._shadows:
            self._shadow_calls.fire(shadow.call.url_pattern, shadow.fetch(req, params, body))
        if self.config.sequential and len(backends) > 1:
            parts = await self._sequential(req, params, body, copies)
        elif len(backends) == 1:
            try:
                async with asyncio.timeout(self.timeout):  # no task per request, unlike wait_for
                    parts = [await backends[0].fetch_concurrent(req, params, body, copies)]
            except TimeoutError:
                parts = [_Part(None, False, "context deadline exceeded")]
        else:
            parts = await self._parallel(req, params, body, copies)
        try:
            response = self._respond(parts)
        except (RecursionError, ValueError, TypeError) as exc:  # data the renderer cannot write
            log.warning("endpoint %s: cannot render the answer: %s", self.config.endpoint.endpoint, exc)
            response = self._error(500, b"", b"")
        if self._pipe is not None:
            # Lura's merge returns its partial answer with an error when any backend failed.
            failed = any(p.data is None or p.error for p in parts)
            complete = (b"X-Krakend-Completed", b"true") in response.headers.raw
            self._pipe.record(complete, failed, perf_counter() - started)
        return response

    async def _sequential(self, req: Request, params: dict[str, str], body: bytes, copies: int) -> list[_Part]:
        backends = self._backends
        done: list[_Part] = []

        async def fetch(index: int, current: dict[str, str]) -> _Part:
            part = await backends[index].fetch_concurrent(req, current, body, copies)
            done.append(part)
            return part

        def skipped() -> _Part:
            return _Part(None, False, "not called: an earlier backend of the sequence failed")

        try:
            async with asyncio.timeout(self.timeout * 0.85):
                return await run_sequential(
                    len(backends), params, self._resp_params, fetch, lambda p: (p.data, p.complete), skipped
                )
        except TimeoutError:
            timed_out = [*done, _Part(None, False, "context deadline exceeded")]
            return [*timed_out, *(skipped() for _ in range(len(backends) - len(timed_out)))]

    async def _parallel(self, req: Request, params: dict[str, str], body: bytes, copies: int) -> list[_Part]:
        tasks = [asyncio.ensure_future(b.fetch_concurrent(req, params, body, copies)) for b in self._backends]
        try:
            await asyncio.wait(tasks, timeout=self.timeout * 0.85)
        finally:
            for task in tasks:
                if not task.done():
                    task.cancel()
        parts = []
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is None:
                parts.append(task.result())
            else:
                parts.append(_Part(None, False, "context deadline exceeded"))
        return parts

    def _respond(self, parts: Sequence[_Part]) -> Response:
        merged: dict[str, Any] | None = None
        complete = True
        for part in parts:
            if part.data is None:
                complete = False
                continue
            complete = complete and part.complete
            merged = part.data if merged is None else {**merged, **part.data}
        static = self._static_data
        if static is not None and self.config.static is not None:
            errored = any(p.data is None or p.error for p in parts)
            answered = merged is not None
            if static_matches(self.config.static.strategy, errored=errored, answered=answered, complete=complete):
                merged = {**(merged or {}), **static}
                complete = complete and answered
        if merged is None:
            return self._failure(parts)
        complete = complete and bool(merged)
        flatmap = self.config.endpoint.flatmap_filter
        if flatmap:
            merged = apply_flatmap(merged, flatmap)
        content_type, rendered = render(self.config.endpoint.output_encoding, merged)
        raw = [(b"Content-Type", content_type), (b"X-Krakend", self._version)]
        raw.append((b"X-Krakend-Completed", b"true" if complete else b"false"))
        if complete and self._cache_control:
            raw.append((b"Cache-Control", self._cache_control))
        return Response(200, Headers(raw), rendered)

    def _failure(self, parts: Sequence[_Part]) -> Response:
        errors = [p.error for p in parts if p.error]
        log.debug("endpoint %s failed: %s", self.config.endpoint.endpoint, "; ".join(errors))
        coded = next((p for p in parts if p.code_passthrough and p.status), None)
        show = self.config.return_error_msg
        if coded is not None:
            body = coded.body if show else b""
            return self._error(coded.status, body, coded.content_type if show else b"")
        if show:
            return self._error(500, "\n".join(errors).encode("utf-8"), b"text/plain; charset=utf-8")
        return self._error(500, b"", b"")

    def _error(self, status: int, body: bytes, content_type: bytes) -> Response:
        raw = [(b"X-Krakend", self._version), (b"X-Krakend-Completed", b"false")]
        if content_type:
            raw.insert(0, (b"Content-Type", content_type))
        return Response(status, Headers(raw), body)


def _build(config: MergeConfig, ctx: ServiceContext) -> Handler:
    if math.isnan(config.endpoint.timeout):
        raise ValueError("invalid timeout")
    service = MergeService(config, ctx)
    if not service.noop:
        # The route calls the endpoint's mode directly: one coroutine frame less per request than __call__.
        return service._merge
    return service.fast_noop(service._noop) or service._noop


MERGE_KIND = register_service(ServiceKind("gatewayMerge", MergeConfig, _build))
