"""The sequential proxy (endpoint ``proxy.sequential: true``; Lura ``proxy/merging.go`` ``sequentialMerge``).

Backends are called in order; ``{respN_field}`` (or ``{respN_a.b}``) in a later backend's ``url_pattern`` is filled
from backend N's answer (after its own manipulations: target, allow/deny, mapping, group). Values as Lura writes
them: strings as they are, booleans ``true``/``false``, numbers as their JSON text, arrays joined by ``,``; a
missing field (or an object) leaves the placeholder empty. The first backend failing fails the endpoint (500); a
later failure, or an incomplete answer, stops the chain: what was merged is returned with
``X-Krakend-Completed: false``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

__all__ = ["ResponseParam", "response_params", "run_sequential", "wanted_params"]

_RESP = re.compile(r"\{(resp(\d+)_([^}]+))\}")

P = TypeVar("P")

ResponseParam = tuple[str, int, tuple[str, ...]]
"""A placeholder name, the backend index it reads and the field path in that backend's data."""


def wanted_params(url_patterns: Sequence[str]) -> list[ResponseParam]:
    """Every ``{respN_field}`` placeholder of ``url_patterns``."""
    seen: dict[str, ResponseParam] = {}
    for pattern in url_patterns:
        for name, index, field in _RESP.findall(pattern):
            seen[name] = (name, int(index), tuple(field.split(".")))
    return list(seen.values())


def _format(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        items = [_format(v) for v in value]
        return ",".join(i for i in items if i is not None)
    return None


def response_params(wanted: Sequence[ResponseParam], index: int, data: Mapping[str, Any]) -> dict[str, str]:
    """The parameters backend ``index``'s ``data`` gives to the later backends."""
    out: dict[str, str] = {}
    for name, source, path in wanted:
        if source != index:
            continue
        value: Any = data
        for key in path:
            value = value.get(key) if isinstance(value, Mapping) else None
        text = _format(value)
        if text is not None:
            out[name] = text
    return out


async def run_sequential(
    count: int,
    params: Mapping[str, str],
    wanted: Sequence[ResponseParam],
    fetch: Callable[[int, dict[str, str]], Awaitable[P]],
    outcome: Callable[[P], tuple[Mapping[str, Any] | None, bool]],
    skipped: Callable[[], P],
) -> list[P]:
    """Call backends ``0..count-1`` in order; ``outcome(part)`` is (data or None, complete). Backends not called
    (after a failure or an incomplete answer) are ``skipped()`` parts, so the merge sees an incomplete answer."""
    current = dict(params)
    parts: list[P] = []
    for index in range(count):
        part = await fetch(index, current)
        parts.append(part)
        data, complete = outcome(part)
        if data is None or not complete:
            break
        current.update(response_params(wanted, index, data))
    parts.extend(skipped() for _ in range(count - len(parts)))
    return parts
