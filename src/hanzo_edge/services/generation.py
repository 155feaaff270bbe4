"""Background tasks owned by one configuration generation.

Health-check loops, passive-recovery timers and mirrored requests belong to the generation that built them. The
builder creates one :class:`TaskScope` per generation, hands ``scope.spawn`` to the services, and, once the next
generation is serving, calls ``await old_scope.aclose()`` (or ``cancel()`` from synchronous code).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["TaskScope"]

_T = TypeVar("_T")
_log = logging.getLogger("hanzo_edge.services")


class TaskScope:
    """A set of asyncio tasks that are cancelled together.

    Finished tasks leave the set on their own; an exception that escapes a task is logged (never left
    "unretrieved"). After :meth:`cancel`, :meth:`spawn` refuses new work.
    """

    __slots__ = ("_closed", "_tasks", "name")

    def __init__(self, name: str = "") -> None:
        self.name = name
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False

    def spawn(self, coro: Coroutine[Any, Any, _T]) -> asyncio.Task[_T] | None:
        """Run ``coro`` as a task of this scope and return the task.

        Must be called with a running event loop. Returns None (and closes ``coro`` unrun) once the scope is closed.
        """
        if self._closed:
            coro.close()
            return None
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            _log.error("background task of generation %s failed", self.name, exc_info=exc)

    def cancel(self) -> None:
        """Close the scope and request cancellation of every task (returns at once).

        A task of the scope that calls this is not cancelled itself: it goes on until it returns.
        """
        self._closed = True
        try:
            current = asyncio.current_task()
        except RuntimeError:  # no running loop
            current = None
        for task in self._tasks:
            if task is not current:
                task.cancel()

    async def aclose(self) -> None:
        """Close the scope, cancel every task and wait until they have all finished."""
        self.cancel()
        current = asyncio.current_task()
        while pending := [task for task in self._tasks if task is not current]:
            await asyncio.gather(*pending, return_exceptions=True)

    @property
    def closed(self) -> bool:
        """True once :meth:`cancel` or :meth:`aclose` has been called."""
        return self._closed

    def __len__(self) -> int:
        return len(self._tasks)

    def __repr__(self) -> str:
        return f"<TaskScope {self.name} tasks={len(self._tasks)} closed={self._closed}>"
