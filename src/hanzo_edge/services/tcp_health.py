"""Active health checks of TCP servers (Traefik's TCP ``healthCheck``: ``port``, ``send``, ``expect``, ``interval``,
``unhealthyInterval``, ``timeout``).

Each server is probed on its own schedule: a connection (with the service's TLS when the server has ``tls``), then
``send`` is written and the answer must start with ``expect`` within ``timeout``. One failed probe marks the server
down in its :class:`~hanzo_edge.services.tcp_balancer.Balancer`, one success marks it up again (as Traefik's). A healthy
server is probed every ``interval``, an unhealthy one every ``unhealthyInterval`` (``interval`` when unset). The
probes run from :meth:`TCPHealthChecker.start` (when the generation goes live) to :meth:`stop` (when it is retired).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from hanzo_edge.services.tcp_balancer import Balancer, TCPServerTarget

__all__ = ["TCPCheck", "TCPHealthChecker"]

log = logging.getLogger("hanzo_edge.tcp")


@dataclass(frozen=True, slots=True)
class TCPCheck:
    """A service's ``healthCheck``, in seconds (``port`` 0: the server's own)."""

    port: int = 0
    send: bytes = b""
    expect: bytes = b""
    interval: float = 30.0
    unhealthy_interval: float | None = None
    timeout: float = 5.0


class TCPHealthChecker:
    """Probes ``targets`` with ``check`` and reports into ``balancer``."""

    def __init__(self, service: str, balancer: Balancer, targets: Sequence[TCPServerTarget], check: TCPCheck) -> None:
        self.service = service
        self.balancer = balancer
        self.targets = tuple(targets)
        self.check = check
        self.tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start probing (needs a running event loop); a second call does nothing."""
        if self.tasks:
            return
        loop = asyncio.get_running_loop()
        self.tasks = [loop.create_task(self._watch(target)) for target in self.targets]

    def stop(self) -> None:
        """Stop probing."""
        for task in self.tasks:
            task.cancel()
        self.tasks = []

    async def _watch(self, target: TCPServerTarget) -> None:
        check = self.check
        while True:
            up = await self.probe(target)
            if self.balancer.status(target.address) != up:
                log.warning("TCP service %s: server %s is %s", self.service, target.address, "up" if up else "down")
            self.balancer.set_status(target.address, up)
            wait = check.interval if up else (check.unhealthy_interval or check.interval)
            await asyncio.sleep(max(wait, 0.01))

    async def probe(self, target: TCPServerTarget) -> bool:
        """One probe of ``target``: True when it connects (and answers ``expect``) within ``timeout``."""
        check = self.check
        try:
            return await asyncio.wait_for(self._exchange(target), check.timeout if check.timeout > 0 else None)
        except (OSError, ValueError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            return False

    async def _exchange(self, target: TCPServerTarget) -> bool:
        check = self.check
        reader, writer = await asyncio.open_connection(
            target.host,
            check.port or target.port,
            ssl=target.tls,
            server_hostname=(target.server_name or target.host) if target.tls is not None else None,
        )
        try:
            if check.send:
                writer.write(check.send)
                await writer.drain()
            if check.expect:
                # Traefik reads len(expect) bytes and compares them with expect (here: however the bytes arrive).
                try:
                    answer = await reader.readexactly(len(check.expect))
                except asyncio.IncompleteReadError:
                    return False
                return answer == check.expect
            return True
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
