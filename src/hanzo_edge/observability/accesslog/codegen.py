"""Turn a format's line body into a function, with the table's steps it needs in front.

Why generate code: a line's cost is the point (it runs once per request on the event loop). A renderer written out
for one configuration computes only the fields that configuration keeps and builds each line as one dict literal or
one f-string, which is what the hand-written fast paths used to do; generating it from :mod:`.fields` keeps that
speed with one table and one path per format. ``dataclasses`` builds ``__init__`` the same way.

No configuration value enters the source: the configuration only chooses which entries of the constant tables
(fields, steps, format slots) are used; header names, query modes and the like are read at run time from objects
in the function's globals.
"""

from __future__ import annotations

import ast
import itertools
import linecache
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from hanzo_edge.observability.accesslog.fields import STEPS

if TYPE_CHECKING:
    from hanzo_edge.http.messages import Request

__all__ = ["PARAMETERS", "Renderer", "compile_renderer"]

Renderer: TypeAlias = "Callable[[Request, int, int, float, int, str, int], bytes]"
"""``render(req, status, nbytes, duration, retries, username, count) -> line``."""

PARAMETERS: Final = "req, status, nbytes, duration, retries, username, count"

_serial = itertools.count(1)


def _loaded_names(source: str) -> set[str]:
    return {node.id for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Name)}


def _steps_for(body: Iterable[str]) -> list[str]:
    # The steps the body reads, directly or through other steps, in the table's order.
    needed = _loaded_names("\n".join(body))
    chosen: list[str] = []
    for step in reversed(STEPS):
        bound = {name.strip() for name in step.names.split(",")}
        if bound & needed:
            chosen.append(f"{step.names} = {step.expr}")
            needed |= _loaded_names(step.expr)
    return chosen[::-1]


def compile_renderer(label: str, body: list[str], names: dict[str, Any]) -> Renderer:
    """Return ``render`` whose body is ``body`` (lines of Python, indented from zero) after the steps it reads.

    ``names`` are the function's globals. The source is registered with :mod:`linecache` under a name holding
    ``label``, so a traceback through a renderer shows its lines.
    """
    lines = [f"def render({PARAMETERS}):"]
    lines += [f"    {line}" for line in _steps_for(body)]
    lines += [f"    {line}" for line in body]
    source = "\n".join(lines) + "\n"
    filename = f"<access log {label} renderer {next(_serial)}>"
    scope = dict(names)
    exec(compile(source, filename, "exec"), scope)  # the source is built from the constant field table
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    render: Renderer = scope["render"]
    return render
