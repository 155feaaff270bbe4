"""What an entrypoint needs of any downstream connection, whatever its protocol: the :class:`Connection` contract.

Drain (``ConnectionContext.close_idle``), shutdown (``ConnectionContext.stop``) and the deadline ticker only close
connections and check their deadlines, so they are written against this small protocol instead of ``HttpProtocol``.
An HTTP/2 connection, a TCP-router tunnel or a stage still reading a PROXY header joins the same context by
implementing these three methods; nothing in ``http/settings.py`` depends on a concrete protocol (no import cycle).

:class:`PauseReason` names why a connection stopped reading from its socket; reading resumes when no reason is left.
"""

from __future__ import annotations

import enum
from typing import Protocol

__all__ = ["Connection", "PauseReason"]


class Connection(Protocol):
    """One downstream connection as its entrypoint manages it."""

    def check_deadlines(self, now: float) -> None:
        """Close the connection if one of its deadlines (``loop.time()`` based) has passed at ``now``."""

    def close_if_idle(self) -> bool:
        """Close now when no request is in progress (graceful drain); return True if it closed."""

    def close_now(self) -> None:
        """Close the connection at once, whatever it is doing (shutdown after ``graceTimeOut``)."""


class PauseReason(enum.IntFlag):
    """Why a downstream connection is not reading; several may hold at once.

    Protocols keep the set as a plain ``int`` on the hot path (IntFlag arithmetic allocates) and combine the
    members' ``.value``; :class:`PauseReason` is for naming and for reading the set back in tests and diagnostics.
    """

    BODY_CONSUMER = 1
    """The request body's consumer (upstream socket, buffering middleware) is behind: back-pressure."""
    PIPELINE = 2
    """Pipelined requests (or a deferred error answer) wait behind the one being handled."""
    EXPECT_CONTINUE = 4
    """The client sent ``Expect: 100-continue``; its body is not wanted until someone reads it."""
    UPGRADE = 8
    """The parser stopped at an Upgrade; the bytes after the head belong to the tunnel once the backend agrees."""
