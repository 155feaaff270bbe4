"""What observability costs: ingress plain, with metrics, with the access log, and with tracing, beside nginx.

Usage: ``python benchmarks/observability_bench.py [--rounds 3] [--scenario small] [run.py args]``.

Tracing exports to a real OTLP/HTTP receiver (``tests/integration/otlp_receiver.py``) started here in its own
process, so the export thread's work is part of what is measured. Results go to
``benchmarks/results/observability.json``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from bench_tools import ensure_bench_tools
from compiled_tree import use_for_children

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT.parent / "shared" / "bench"

RECEIVER = """
import sys, time
sys.path.insert(0, sys.argv[1])
from otlp_receiver import OtlpHttpReceiver
receiver = OtlpHttpReceiver()
print(receiver.port, flush=True)
try:
    while True:
        time.sleep(5)
        print("spans", len(receiver.spans), file=sys.stderr, flush=True)
        receiver.store.spans.clear()
except KeyboardInterrupt:
    pass
"""


def main() -> int:
    """Run the comparison. Returns run.py's exit code."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenario", default="small")
    parser.add_argument("--rounds", default="3")
    parser.add_argument("--peers", default="nginx")
    parser.add_argument("--variants", default="", help="comma list of variants (default: all)")
    args, extra = parser.parse_known_args()
    if not (BENCH / "run.py").exists():
        print(f"bench: {BENCH}/run.py not found", file=sys.stderr)
        return 2
    ensure_bench_tools(BENCH)
    use_for_children()  # every variant runs the compiled tree when fresh (PURE=1: pure Python)
    receiver = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "python"), "-c", RECEIVER, str(ROOT / "tests" / "integration")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert receiver.stdout is not None
        port = int(receiver.stdout.readline())
        script = ROOT / "benchmarks" / "ingress-for-bench.sh"
        variants = {
            "ingress": "",
            "metrics": " --metrics.prometheus=true --metrics.prometheus.entryPoint=web",
            "accesslog": " --accesslog=true --accesslog.format=json --accesslog.filePath=/dev/null",
            "tracing": f" --tracing=true --tracing.otlp.http.endpoint=http://127.0.0.1:{port}",
            "tracing-0": f" --tracing=true --tracing.sampleRate=0 --tracing.otlp.http.endpoint=http://127.0.0.1:{port}",
            "accesslog-file": " --accesslog=true --accesslog.format=json --accesslog.filePath={workdir}/access.log",
            # Traefik's default format (common), to a file: the "common-format access log" row.
            "accesslog-common": " --accesslog=true --accesslog.filePath={workdir}/access.log",
            # Issue 22's "full product": a headers middleware, Prometheus metrics and a JSON access log to a file.
            "full": " --metrics.prometheus=true --metrics.prometheus.entryPoint=web"
            " --accesslog=true --accesslog.format=json --accesslog.filePath={workdir}/access.log",
        }
        only = [v for v in args.variants.split(",") if v] if args.variants else list(variants)
        variants = {k: v for k, v in variants.items() if k in only}
        out = ROOT / "benchmarks" / "results" / "observability.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, str(BENCH / "run.py"), "--scenario", args.scenario, "--rounds", args.rounds]
        cmd += ["--peers", args.peers, "--json", str(out)]
        for name, flags in variants.items():
            env = "HEADERS=1 " if name == "full" else ""
            cmd += ["--proxy", f"{name}=sh -c '{env}exec {script} {{port}} {{upstream}} {{workdir}}{flags}'"]
        return subprocess.call([*cmd, *[a for a in extra if a != "--"]])
    finally:
        receiver.terminate()
        try:
            receiver.wait(5)
        except subprocess.TimeoutExpired:
            receiver.kill()
        time.sleep(0)


if __name__ == "__main__":
    raise SystemExit(main())
