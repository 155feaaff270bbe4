"""Run ../shared/bench/run.py with our ingress beside nginx (and optionally HAProxy/Caddy).

Usage: ``python benchmarks/proxy_bench.py [--scenario small,large] [--rounds 3] [--peers nginx] [run.py args]``.
Results go to ``benchmarks/results/latest.json`` and the table is printed. Installs the bench tools when missing.
The ingress runs the compiled tree (``make compiled``) when it is fresh, pure Python with ``PURE=1``;
``meta.hanzo_edge_build`` in the JSON says which.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from bench_tools import ensure_bench_tools
from compiled_tree import use_for_children

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT.parent / "shared" / "bench"


def main() -> int:
    """Run the side-by-side benchmark. Returns run.py's exit code."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenario", default="small,large")
    parser.add_argument("--rounds", default="3")
    parser.add_argument("--peers", default="nginx")
    parser.add_argument("--workers", type=int, default=1, help="ingress --workers")
    parser.add_argument("--name", default="ingress")
    args, extra = parser.parse_known_args()
    if not (BENCH / "run.py").exists():
        print(f"bench: {BENCH}/run.py not found", file=sys.stderr)
        return 2
    ensure_bench_tools(BENCH)
    build = use_for_children()  # the compiled tree when fresh (PURE=1: pure Python); recorded in the JSON
    script = ROOT / "benchmarks" / "ingress-for-bench.sh"
    flags = f" --workers={args.workers}" if args.workers > 1 else ""
    proxy = f"{args.name}=sh -c 'exec {script} {{port}} {{upstream}} {{workdir}}{flags}'"
    out = ROOT / "benchmarks" / "results" / "latest.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        str(BENCH / "run.py"),
        "--scenario",
        args.scenario,
        "--rounds",
        args.rounds,
        "--peers",
        args.peers,
        "--proxy",
        proxy,
        "--json",
        str(out),
        *[a for a in extra if a != "--"],
    ]
    code = subprocess.call(cmd)
    if code == 0 and out.exists():
        report = json.loads(out.read_text())
        report.setdefault("meta", {})["hanzo_edge_build"] = build
        out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{args.name}: Hanzo Edge build {build}")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
