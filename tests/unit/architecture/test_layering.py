"""The package layering of ENGINEERING.md §2, checked on the import statements of every module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[3] / "src" / "hanzo_edge"

_PACKAGES = {
    "http", "config", "rules", "routing", "middlewares", "services", "observability", "providers", "server", "api",
    "commands", "demo", "gateway", "app", "cli", "tls", "goquote",
}  # fmt: skip

# package -> hanzo_edge packages it must never import
FORBIDDEN = {
    "http": {"config", "rules", "routing", "middlewares", "services", "providers", "server", "app", "cli"},
    "rules": {"http", "config", "routing", "middlewares", "services", "providers", "server", "app", "cli"},
    "config": {"http", "rules", "routing", "middlewares", "services", "providers", "server", "app", "cli"},
    "providers": {"http", "rules", "routing", "middlewares", "services", "server", "app", "cli"},
    "services": {"config", "providers", "routing", "server", "app", "cli"},
    "middlewares": {"providers", "server", "app", "cli"},
    "routing": {"providers", "server", "app", "cli"},
    # Metrics, access log and tracing observe requests (http) and read their own static sections (config).
    "observability": _PACKAGES - {"observability", "http", "config", "tls"},
    # /api/* reads the built tables (routing) and the configuration models (config); it serves over http.
    "api": _PACKAGES - {"api", "http", "config", "routing"},
    # Listeners and the supervisor only know the protocol.
    "server": _PACKAGES - {"server", "http"},
    # TLS vocabulary (Go <-> OpenSSL names), certificates and what a connection's TLS says: below everything that
    # serves or routes, so the protocols (http) and the metrics and access log can read it.
    "tls": _PACKAGES - {"tls", "http", "config"},
    # The bundled whoami backend and the launcher: http protocols only.
    "demo": _PACKAGES - {"demo", "http"},
    # Go's strconv.Quote, for the rules, config and providers that may not import one another: a leaf.
    "goquote": _PACKAGES - {"goquote"},
}

# Composition roots may import any package: app.py and cli.py, and the offline commands that run app's build.
COMPOSITION = {"app", "cli", "commands", "gateway", "__main__", "__init__"}


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


def test_every_package_has_a_layering_rule() -> None:
    packages = {path.stem if path.is_file() else path.name for path in SRC.iterdir() if path.suffix in {"", ".py"}}
    packages.discard("__pycache__")
    unruled = packages - set(FORBIDDEN) - COMPOSITION
    assert not unruled, f"add a layering rule (and a row in docs/architecture.md) for {sorted(unruled)}"
    unknown = packages - _PACKAGES - {"__init__", "__main__"}
    assert not unknown, f"add {sorted(unknown)} to _PACKAGES, so the packages that must not import it say so"
