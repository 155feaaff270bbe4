"""What the access-log property tests share: stand-ins for a request's route and trace, and the two renderers of
one JSON log configuration (the generated reference and the hand-written ``JsonLine``) on one wall clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hanzo_edge.observability.accesslog import json_line
from hanzo_edge.observability.accesslog.codegen import Renderer
from hanzo_edge.observability.accesslog.fields import namespace
from hanzo_edge.observability.accesslog.formats import json_renderer
from hanzo_edge.observability.accesslog.gofmt import Seconds
from hanzo_edge.observability.accesslog.modes import HeaderModes, QueryModes


@dataclass(frozen=True)
class Route:
    name: str
    service: str
    rule: str = ""
    observability: None = None
    body_limit: None = None


@dataclass(frozen=True)
class Trace:
    trace_hex: str
    span_id: str


def json_twins(
    kept: frozenset[str], headers: HeaderModes, query: QueryModes, wall_ns: Callable[[], int]
) -> tuple[Renderer, json_line.JsonLine]:
    """The generated renderer and a ``JsonLine`` for the same log configuration and wall clock (each its own
    ``Seconds`` caches, as two logs would have)."""
    names = namespace(wall_ns=wall_ns, seconds=Seconds(), scan_headers=headers.scan, request_path=query.request_path)
    written = json_line.JsonLine(
        kept,
        wall_ns=wall_ns,
        seconds=Seconds(),
        scan_headers=headers.scan,
        request_path=query.request_path,
        plain_query=query.plain,
        log_headers=headers.any_logged,
    )
    return json_renderer(kept, names, headers.any_logged), written
