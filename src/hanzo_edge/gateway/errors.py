"""Errors and warnings of a ``gateway.json`` document, each tied to the JSON path it is about.

A JSON path is a tuple of keys and indexes from the document root (``("endpoints", 3, "backend", 0, "host")``);
``gateway check`` turns it into ``$.endpoints[3].backend[0].host`` and the line/column of that value
(:mod:`hanzo_edge.gateway.document` keeps every value's position).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["GatewayConfigError", "GatewayWarning", "JsonPath", "format_path"]

JsonPath = tuple[str | int, ...]
"""Keys (object members) and indexes (array items) from the document root."""


def format_path(path: JsonPath) -> str:
    """Return ``path`` as ``$.endpoints[0].backend[1].host`` (``$`` for the root)."""
    parts = ["$"]
    for step in path:
        if isinstance(step, int):
            parts.append(f"[{step}]")
        elif step.isidentifier():
            parts.append(f".{step}")
        else:
            escaped = step.replace("\\", "\\\\").replace('"', '\\"')
            parts.append(f'["{escaped}"]')
    return "".join(parts)


class GatewayConfigError(ValueError):
    """A bad value in a ``gateway.json``: ``path`` locates it, ``message`` says what is wrong with it.

    Namespace handlers raise it for a bad value of their block; ``gateway check`` prints it with the JSON path and
    line/column, and ``gateway run`` refuses to start.
    """

    def __init__(self, path: JsonPath, message: str) -> None:
        super().__init__(f"{format_path(path)}: {message}")
        self.path = path
        self.message = message


@dataclass(frozen=True, slots=True)
class GatewayWarning:
    """Something configured that we do not honour (or honour differently). Never changes an exit code."""

    path: JsonPath
    message: str

    def __str__(self) -> str:
        return f"{format_path(self.path)}: {self.message}"
