"""The package layering of ENGINEERING.md §2, checked on the import statements of every module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[3] / "src" / "hanzo_edge"

# package -> hanzo_edge packages it must never import
FORBIDDEN = {
    "http": {"config", "rules", "routing", "middlewares", "services", "providers", "server", "app", "cli"},
    "rules": {"http", "config", "routing", "middlewares", "services", "providers", "server", "app", "cli"},
    "config": {"http", "rules", "routing", "middlewares", "services", "providers", "server", "app", "cli"},
    "providers": {"http", "rules", "routing", "middlewares", "services", "server", "app", "cli"},
    "services": {"config", "providers", "routing", "server", "app", "cli"},
    "middlewares": {"providers", "server", "app", "cli"},
    "routing": {"providers", "server", "app", "cli"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "hanzo_edge" and len(parts) > 1:
                found.add(parts[1])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_respects_the_layering(package: str) -> None:
    offenders = []
    for path in sorted((SRC / package).rglob("*.py")):
        bad = _imports(path) & FORBIDDEN[package]
        if bad:
            offenders.append(f"{path.relative_to(SRC)} imports {sorted(bad)}")
    assert not offenders, "\n".join(offenders)
