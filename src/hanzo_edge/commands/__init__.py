"""Commands for humans and probes: ``ingress check``, ``ingress explain`` and ``ingress healthcheck``.

They load the configuration exactly as ``ingress`` does and build the routing tables without binding a socket or
opening an upstream connection, then report. They print nothing themselves: each returns a
:class:`CommandResult` (lines for stdout and stderr, and an :class:`Outcome`) and ``hanzo_edge.cli`` writes the
lines and turns the outcome into the exit code.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

__all__ = ["CommandResult", "Outcome"]


class Outcome(enum.Enum):
    """How a command ended (``cli`` maps it to an exit code)."""

    CLEAN = "clean"
    """``check`` found nothing, or a command printed its help."""
    PROBLEMS = "problems"
    """``check`` found errors, warnings or shadowed routers."""
    MATCHED = "matched"
    """``explain``: a router matched the request."""
    UNMATCHED = "unmatched"
    """``explain``: no router matched (or the entrypoint rejected the request before routing)."""
    USAGE = "usage"
    """Bad arguments, or nothing to explain because the configuration does not load."""
    HEALTHY = "healthy"
    """``healthcheck``: ``/ping`` answered 200."""
    UNHEALTHY = "unhealthy"
    """``healthcheck``: no 200 from ``/ping`` (or no configuration to find it with)."""


@dataclass(slots=True)
class CommandResult:
    """What a command has to say: ``stdout`` and ``stderr`` lines (without newlines) and its outcome."""

    outcome: Outcome
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
