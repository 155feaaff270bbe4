"""Shadow backends (backend ``proxy.shadow: true``; Lura ``proxy/shadow.go``): called, their answer ignored.

A shadow backend gets the same request as the others but is left out of the merge: its call runs as a task of its
own (fire-and-forget), bounded by the endpoint's timeout, and whatever it answers, or however it fails, is only
logged at debug level. The endpoint's answer never waits for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

__all__ = ["ShadowCalls"]

log = logging.getLogger("hanzo_edge.gateway")


class ShadowCalls:
    """The shadow calls in flight (strong references, so a running task is never collected)."""

    __slots__ = ("tasks", "timeout")

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.tasks: set[asyncio.Task[None]] = set()

    def fire(self, label: str, call: Awaitable[object]) -> None:
        """Start ``call`` without waiting for it."""
        task = asyncio.ensure_future(self._run(label, call))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run(self, label: str, call: Awaitable[object]) -> None:
        try:
            async with asyncio.timeout(self.timeout):
                await call
        except Exception as exc:  # a shadow's failure is nobody's business but the log's
            log.debug("shadow backend %s failed: %s", label, exc)
