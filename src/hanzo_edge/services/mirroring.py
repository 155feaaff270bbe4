"""The ``mirroring`` service: serve from the main service, copy a share of the requests to mirrors (Traefik
``pkg/server/service/loadbalancer/mirror``).

Which requests are copied is deterministic, as in Traefik: the service counts requests, each mirror counts its
copies, and request ``n`` goes to a mirror while ``copies * 100 < n * percent`` (so 10% copies requests 1, 11, 21…).

Bodies: a request that no mirror takes is passed through untouched (streaming). When some mirror takes it and
``mirror_body`` is true, the body is read into memory once — at most ``max_body_size`` bytes (-1: no limit) — and
both the main request and the copies get those bytes. A body larger than ``max_body_size`` is not mirrored at all:
the main service gets the bytes read so far followed by the rest of the stream. With ``mirror_body`` false the
copies carry no body and the main body is never buffered.

Copies are sent after the main service's response head arrived (not if the client went away first), one task per
request (spawned with the injected ``spawn``) sending to each selected mirror in turn; their responses are drained
and discarded and their errors ignored. Upgrade requests (WebSocket) are never mirrored.

Health: with ``health_check_enabled`` (``healthCheck: {}``), registering a status updater passes it through to the
main service; otherwise registering raises ValueError.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from hanzo_edge.http.body import StreamBody, relayed
from hanzo_edge.http.errors import ClientClosed
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.services.status import StatusReporter, StatusUpdater

__all__ = ["Mirroring"]

Spawn = Callable[[Coroutine[Any, Any, None]], object]

_log = logging.getLogger("hanzo_edge.services")


class _Mirror:
    __slots__ = ("count", "handler", "name", "percent")

    def __init__(self, name: str, handler: Handler, percent: int) -> None:
        self.name = name
        self.handler = handler
        self.percent = percent
        self.count = 0


async def _read_limited(body: StreamBody, limit: int) -> tuple[bytes | None, list[bytes]]:
    """Read the whole body if it holds at most ``limit`` bytes (-1: no limit): ``(data, [])``; else ``(None, read)``."""
    if limit < 0:
        return await body.read(), []
    if body.length is not None and body.length > limit:
        return None, []
    parts: list[bytes] = []
    total = 0
    while chunk := await body.read_chunk():
        parts.append(chunk)
        total += len(chunk)
        if total > limit:
            return None, parts
    return b"".join(parts), []


def _copy(req: Request, body: bytes) -> Request:
    copy = Request(
        req.method,
        req.target,
        req.headers.copy(),
        path=req.path,
        query=req.query,
        version=req.version,
        host=req.host,
        client_ip=req.client_ip,
        client_port=req.client_port,
        scheme=req.scheme,
        body=body,
        entry_point=req.entry_point,
        routing_path=req.routing_path,
        keep_alive=req.keep_alive,
    )
    copy.tls = req.tls
    return copy


async def _discard(resp: Response) -> None:
    body = resp.body
    if isinstance(body, StreamBody):
        while await body.read_chunk():
            pass
    tunnel = resp.tunnel
    close = getattr(tunnel, "close", None)
    if callable(close):
        close()


class Mirroring:
    """A handler serving from ``service`` and copying requests to ``mirrors`` (``(name, handler, percent)``).

    ``spawn`` runs the fire-and-forget copies (the generation's ``TaskScope.spawn``). Raises ValueError when a
    percent is outside 0..100.
    """

    __slots__ = (
        "_mirrors",
        "_service",
        "_spawn",
        "_total",
        "health_check_enabled",
        "max_body_size",
        "mirror_body",
        "name",
    )

    def __init__(
        self,
        service: Handler,
        mirrors: Sequence[tuple[str, Handler, int]],
        spawn: Spawn,
        name: str = "",
        *,
        mirror_body: bool = True,
        max_body_size: int = -1,
        health_check_enabled: bool = False,
    ) -> None:
        self.name = name
        self._service = service
        self._spawn = spawn
        self.mirror_body = mirror_body
        self.max_body_size = max_body_size
        self.health_check_enabled = health_check_enabled
        self._total = 0
        self._mirrors: list[_Mirror] = []
        for mirror_name, handler, percent in mirrors:
            if percent < 0 or percent > 100:
                raise ValueError(f"mirror {mirror_name!r}: percent must be between 0 and 100, got {percent}")
            self._mirrors.append(_Mirror(mirror_name, handler, percent))

    def _active_mirrors(self) -> list[_Mirror] | None:
        self._total = total = self._total + 1
        active: list[_Mirror] | None = None
        for mirror in self._mirrors:
            if mirror.count * 100 < total * mirror.percent:
                mirror.count += 1
                if active is None:
                    active = [mirror]
                else:
                    active.append(mirror)
        return active

    def __call__(self, req: Request) -> Awaitable[Response]:
        active = self._active_mirrors() if self._mirrors else None
        if active is None or req.upgrade:
            return self._service(req)
        return self._serve_and_mirror(req, active)

    async def _serve_and_mirror(self, req: Request, active: list[_Mirror]) -> Response:
        copy_body = b""
        body = req.body
        if self.mirror_body:
            if isinstance(body, bytes):
                if 0 <= self.max_body_size < len(body):
                    return await self._service(req)
                copy_body = body
            elif body.length != 0:
                data, prefix = await _read_limited(body, self.max_body_size)
                if data is None:
                    if prefix:  # give the main service what was read, then the rest of the stream
                        req.body = relayed(body, prefix)
                    return await self._service(req)
                req.body = copy_body = data
        copies = [(mirror, _copy(req, copy_body)) for mirror in active]
        try:
            resp = await self._service(req)
        except ClientClosed:
            raise
        except Exception:
            self._spawn(self._send_copies(copies))
            raise
        self._spawn(self._send_copies(copies))
        return resp

    async def _send_copies(self, copies: list[tuple[_Mirror, Request]]) -> None:
        for mirror, copy in copies:
            try:
                await _discard(await mirror.handler(copy))
            except Exception as exc:
                _log.debug("mirror %s of %s failed: %s", mirror.name, self.name, exc)

    def register_status_updater(self, updater: StatusUpdater) -> None:
        """Pass ``updater`` through to the main service.

        Raises ValueError when health checking is not enabled here or the main service cannot report its health.
        """
        if not self.health_check_enabled:
            raise ValueError(f"healthCheck not enabled in config for the mirroring service {self.name!r}")
        service: object = self._service
        if not isinstance(service, StatusReporter):
            raise ValueError(f"the main service of mirroring {self.name!r} does not report its health status")
        service.register_status_updater(updater)

    @property
    def any_up(self) -> bool:
        """The main service's status (True when it does not report one)."""
        return bool(getattr(self._service, "any_up", True))

    def mirror_counts(self) -> dict[str, int]:
        """Return how many requests each mirror was selected for (by mirror name)."""
        return {m.name: m.count for m in self._mirrors}

    def __repr__(self) -> str:
        return f"<Mirroring {self.name} mirrors={[(m.name, m.percent) for m in self._mirrors]}>"
