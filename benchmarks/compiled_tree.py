"""Which build of Hanzo Edge a benchmark starts: the compiled tree (``make compiled``) when it is fresh, else pure.

The benchmarks measure the product as it is built: ``build/compiled/src`` (the hot path compiled by mypyc, see
``scripts/build_compiled.py``) goes first on the ``PYTHONPATH`` of every ``ingress``/``gateway`` they start, when its
stamp is newer than every ``.py`` under ``src/``. ``PURE=1`` forces pure Python (to compare the two); a stale or
missing tree falls back to pure Python with a warning. ``benchmarks/ingress-for-bench.sh`` makes the same choice,
or takes it from ``HANZO_EDGE_BUILD`` when a Python benchmark already made it, so the two always agree.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TREE = ROOT / "build" / "compiled" / "src"
STAMP = ROOT / "build" / "compiled" / "stamp.json"


def tree_is_fresh() -> bool:
    """True when the compiled tree was built after the last edit of any source file."""
    if not STAMP.exists():
        return False
    built = STAMP.stat().st_mtime
    return all(path.stat().st_mtime <= built for path in (ROOT / "src").rglob("*.py"))


def choose() -> str:
    """``"compiled"`` or ``"pure"``, as described in the module docstring (a warning on stderr when stale)."""
    if os.environ.get("PURE") == "1":
        return "pure"
    if tree_is_fresh():
        return "compiled"
    why = "stale (run make compiled)" if STAMP.exists() else "not built (run make compiled)"
    print(f"bench: the compiled tree is {why}; measuring pure Python", file=sys.stderr)
    return "pure"


def child_env(build: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) for a child that runs ``build``; ``HANZO_EDGE_BUILD`` says it."""
    env = dict(os.environ if base is None else base)
    env["HANZO_EDGE_BUILD"] = build
    if build == "compiled":
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(TREE), env.get("PYTHONPATH", "")) if p)
    return env


def use_for_children() -> str:
    """Choose the build and put it in this process's environment, which every child inherits; returns the choice."""
    build = choose()
    os.environ.update(child_env(build))
    print(f"bench: Hanzo Edge build under test: {build}", file=sys.stderr)
    return build
