"""Issue 22's compile lever: what mypyc buys on the proxy hot path, per module group, and what it costs to build.

For each group below, a scratch copy of ``src/`` is made, the group's modules are compiled there with mypyc (the
compile is timed: that is what ``make install`` would pay on a fresh clone), and ``hot_path_micro.py --cpu`` runs
against the copy ``--rounds`` times; the best figure is kept. The pure-Python baseline is measured the same way.
Nothing is compiled inside the working tree: an in-place ``.so`` would shadow every later edit of its ``.py``.

Run (on a quiet machine): ``python benchmarks/compile_lever.py`` (about 3 minutes: each group compiles in 5 to 25 s).
Smoke mode: ``python benchmarks/compile_lever.py --smoke`` (one group, a short run).

``--tree`` measures the product as built instead: pure Python against ``build/compiled/src`` (``make compiled``,
``scripts/build_compiled.py``'s module list), alternating the two each round so load drifts hit both alike.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MICRO = ROOT / "benchmarks" / "hot_path_micro.py"

# Module groups, smallest first. A module left out of every group is named with its reason in
# benchmarks/results/compile_lever.md (services/wrr.py: mypyc can't compile a subclass of an interpreted
# ``__slots__`` class, services/status.py's StatusPropagator).
GROUPS: dict[str, list[str]] = {
    "messages": [
        "hanzo_edge/http/headers.py",
        "hanzo_edge/http/messages.py",
        "hanzo_edge/http/body.py",
        "hanzo_edge/http/forwarded.py",
    ],
    "upstream leg": [
        "hanzo_edge/http/proxy.py",
        "hanzo_edge/http/pool.py",
        "hanzo_edge/http/upstream.py",
    ],
    "downstream": [
        "hanzo_edge/http/server.py",
        "hanzo_edge/http/pipeline.py",
    ],
    "routing": [
        "hanzo_edge/routing/table.py",
    ],
}
GROUPS["all of the above"] = [m for group in list(GROUPS.values()) for m in group]
COMPILED_TREE = ROOT / "build" / "compiled" / "src"


def build_script_modules() -> list[str]:
    """The module list ``make compiled`` compiles (scripts/build_compiled.py), so the harness measures that set."""
    spec = importlib.util.spec_from_file_location("build_compiled", ROOT / "scripts" / "build_compiled.py")
    if spec is None or spec.loader is None:
        raise RuntimeError("scripts/build_compiled.py not found")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.MODULES)


GROUPS["the build (make compiled)"] = build_script_modules()


def micro(src: Path | None, n: int, rounds: int) -> float:
    """Best CPU µs/request of hot_path_micro against ``src`` (``None``: the working tree, pure Python)."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = f"{src}{os.pathsep}{env.get('PYTHONPATH', '')}"
    out = subprocess.run(
        [sys.executable, str(MICRO), str(n), "--rounds", str(rounds), "--cpu", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    ).stdout
    figure: float = json.loads(out.strip().splitlines()[-1])["us_per_request"]
    return figure


def compile_group(modules: list[str], scratch: Path) -> tuple[Path, float]:
    """Copy src/ into ``scratch``, compile ``modules`` there with mypyc; return the copy's src and the seconds."""
    src = scratch / "src"
    shutil.copytree(ROOT / "src", src, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    mypyc = Path(sys.executable).with_name("mypyc")
    t0 = time.perf_counter()
    done = subprocess.run([str(mypyc), *modules], cwd=src, capture_output=True, text=True, timeout=600)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"mypyc failed for {modules}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return src, seconds


def compare_tree(n: int, rounds: int) -> dict[str, float]:
    """Pure vs the ``make compiled`` tree, one round of each in turn; the best of each."""
    if not (COMPILED_TREE.parent / "stamp.json").exists():
        raise RuntimeError("no compiled tree: run make compiled first")
    pure, compiled = float("inf"), float("inf")
    for _ in range(rounds):
        pure = min(pure, micro(None, n, 1))
        compiled = min(compiled, micro(COMPILED_TREE, n, 1))
    change = (compiled - pure) / pure * 100
    print(f"pure {pure:.2f} µs/request (CPU), compiled {compiled:.2f} ({change:+.1f} %), best of {rounds} x {n}")
    return {"pure_us": pure, "compiled_us": compiled, "change_pct": round(change, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=30000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per figure; the best is kept")
    parser.add_argument("--smoke", action="store_true", help="one small group, a short run (proves the harness)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--tree", action="store_true", help="pure vs the make-compiled tree (no scratch builds)")
    args = parser.parse_args()
    if args.tree:
        n, rounds = (3000, 1) if args.smoke else (args.n, args.rounds)
        figures = compare_tree(n, rounds)
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2) + "\n")
        return
    groups = {"messages": GROUPS["messages"]} if args.smoke else GROUPS
    n, rounds = (3000, 1) if args.smoke else (args.n, args.rounds)

    pure = micro(None, n, rounds)
    rows: list[dict[str, object]] = [{"group": "pure Python", "us_per_request": pure, "compile_s": 0.0}]
    print(f"{'group':<20} {'µs/request (CPU)':>17} {'vs pure':>8} {'compile s':>10}")
    print(f"{'pure Python':<20} {pure:>17.2f} {'':>8} {'':>10}")
    for name, modules in groups.items():
        with tempfile.TemporaryDirectory(prefix="compile_lever_") as tmp:
            src, seconds = compile_group(modules, Path(tmp))
            compiled = micro(src, n, rounds)
        change = (compiled - pure) / pure * 100
        rows.append({"group": name, "modules": modules, "us_per_request": compiled, "compile_s": round(seconds, 1)})
        print(f"{name:<20} {compiled:>17.2f} {change:>+7.1f}% {seconds:>10.1f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
