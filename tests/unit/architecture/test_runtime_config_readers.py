"""Only the merge stage walks provider snapshots; the table builder and the readers use the typed runtime records.

Issue 10: the builder, ``/api/*``, ``check`` and the metrics bookkeeping once walked the snapshots themselves with
``getattr`` and re-derived names, defaults and statuses. These scans keep them on :mod:`hanzo_edge.config.runtime`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[3] / "src" / "hanzo_edge"

#: Modules that read the runtime configuration and must not reflect over configuration objects.
READERS = ("routing/build.py", "api/runtime.py", "commands/check.py", "commands/common.py")

#: The IngressApp methods that build and do the metrics bookkeeping.
APP_METHODS = ("build", "rebuild")

_REFLECTION = {"getattr", "hasattr"}
_SNAPSHOT_SECTIONS = {"http", "tcp", "udp"}
_SNAPSHOT_COLLECTIONS = {"routers", "services", "middlewares", "servers_transports"}


def _reflection_calls(tree: ast.AST) -> list[int]:
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _REFLECTION
    ]


@pytest.mark.parametrize("module", READERS)
def test_readers_use_no_getattr(module: str) -> None:
    path = SRC / module
    lines = _reflection_calls(ast.parse(path.read_text(), str(path)))
    assert not lines, f"{module} reflects over objects (getattr/hasattr) at lines {lines}: read the typed records"


def test_the_app_builds_and_counts_without_getattr() -> None:
    path = SRC / "app.py"
    tree = ast.parse(path.read_text(), str(path))
    app = next(node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "IngressApp")
    methods = {node.name: node for node in app.body if isinstance(node, ast.FunctionDef)}
    for name in APP_METHODS:
        assert not _reflection_calls(methods[name]), f"IngressApp.{name} uses getattr/hasattr"


def test_only_the_merge_stage_and_providers_walk_snapshot_sections() -> None:
    # ``<x>.http.routers`` and the like: a walk over a snapshot's objects (entrypoint ``ep.http.middlewares`` is a
    # static setting, named by its own attribute chain, and is not matched).
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC).as_posix()
        if relative.startswith(("config/", "providers/")):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in _SNAPSHOT_COLLECTIONS
                and isinstance(node.value, ast.Attribute)
                and node.value.attr in _SNAPSHOT_SECTIONS
                and not (isinstance(node.value.value, ast.Name) and node.value.value.id == "ep")
            ):
                offenders.append(f"{relative}:{node.lineno}")
    assert not offenders, f"snapshot walks outside config/runtime.py: {offenders}"
