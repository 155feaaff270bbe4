"""The ingress process's CPU per request for each observability variant, and (optionally) its syscalls per request.

Issue 22 asks where the JSON access log's end-to-end cost goes (~15 us/request against ~6 us on the loop). Wall
req/s is noise on a shared machine; CPU time of the proxy process (user + sys of every thread, from
``/proc/PID/stat``) over a fixed load is not. This runs the shared bench's nginx backend and ``wrk``, starts
``benchmarks/ingress-for-bench.sh`` once per variant and round, and prints µs of CPU per request (user and sys
apart), plus, with ``--strace``, the syscalls per request seen by ``strace -f -c`` on a separate run (strace slows
the proxy, so that run's CPU is not reported).

Usage (quiet machine)::

    .venv/bin/python benchmarks/obs22_cpu_probe.py --seconds 10 --rounds 3 \
        --variants ingress,metrics,accesslog,accesslog-file,full
    .venv/bin/python benchmarks/obs22_cpu_probe.py --seconds 5 --rounds 1 --variants ingress,accesslog --strace

Smoke: ``--seconds 2 --rounds 1 --variants ingress,full``.

A/B against another copy of the source: ``--alt-src /tmp/old/src --variants accesslog-file,accesslog-file@alt`` runs
each ``NAME@alt`` variant with ``PYTHONPATH`` set to that copy, interleaved with the others; ``--src DIR`` pins the
other variants to another copy (``cp -a build/compiled/src /tmp/after``) the same way.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT.parent / "shared" / "bench" / "run.py"
SCRIPT = ROOT / "benchmarks" / "ingress-for-bench.sh"

_LOG = " --accesslog=true --accesslog.format=json --accesslog.filePath="
_METRICS = " --metrics.prometheus=true --metrics.prometheus.entryPoint=web"
VARIANTS: dict[str, tuple[str, str]] = {
    # name: (environment for ingress-for-bench.sh, extra flags); {workdir} is the run's directory
    "ingress": ("", ""),
    "headers": ("HEADERS=1", ""),
    "metrics": ("", _METRICS),
    # issue 22 split of the metrics cost: the observer alone (no /metrics router on web), the router alone (the
    # entrypoint's observer switched off), and a plain second router on web (is it any extra router, or this one?)
    "metrics-observer": ("", _METRICS + " --metrics.prometheus.manualRouting=true"),
    "metrics-route": ("", _METRICS + " --entrypoints.web.observability.metrics=false"),
    "ping-route": ("", " --ping=true --ping.entryPoint=web"),
    "accesslog": ("", _LOG + "/dev/null"),
    "accesslog-file": ("", _LOG + "{workdir}/access.log"),
    "accesslog-common": ("", " --accesslog=true --accesslog.filePath={workdir}/access.log"),
    "accesslog-buffered": ("", _LOG + "{workdir}/access.log --accesslog.bufferingSize=100"),
    # the observer runs, the filter keeps no line: what the hook costs without rendering or writing
    "accesslog-filtered": ("", _LOG + "/dev/null --accesslog.filters.statusCodes=999"),
    "full": ("HEADERS=1", _METRICS + _LOG + "{workdir}/access.log"),
}


def load_run() -> ModuleType:
    """The shared bench's ``run.py`` (stdlib only), for its backend config, process helpers and wrk script."""
    spec = importlib.util.spec_from_file_location("bench_run", BENCH)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {BENCH}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_run"] = module
    spec.loader.exec_module(module)
    return module


def thread_ticks(pid: int) -> tuple[int, int]:
    """(utime, stime) in clock ticks of every thread of ``pid``."""
    user = system = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                data = f.read()
        except OSError:
            continue
        fields = data[data.rindex(")") + 2 :].split()
        user += int(fields[11])
        system += int(fields[12])
    return user, system


def context_switches(pid: int) -> int:
    """Voluntary context switches of every thread of ``pid`` (a thread handing the GIL over sleeps on a futex)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total


def ingress_pid(root: int, run: ModuleType) -> int:
    """The ingress python process under the launcher (sh execs it, so normally ``root`` itself)."""
    tree = run.process_tree(root)
    for pid in tree:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"ingress" in f.read():
                    return int(pid)
        except OSError:
            continue
    return root


def wrk(run: ModuleType, lua: Path, port: int, seconds: float, connections: int) -> dict[str, float]:
    argv = ["wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds:g}s", "-s", str(lua)]
    out = subprocess.run(
        [*argv, f"http://127.0.0.1:{port}/small"], capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    match = re.search(r"^BENCH_JSON (\{.*\})$", out.stdout, re.M)
    if out.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed: {out.stdout[-1000:]} {out.stderr[-1000:]}")
    import json

    parsed: dict[str, float] = json.loads(match.group(1))
    return parsed


def strace_counts(pid: int, seconds: float, run: ModuleType, lua: Path, port: int, conns: int) -> tuple[int, str]:
    """Attach ``strace -f -c`` for one wrk run; return (requests, strace's summary table)."""
    with tempfile.NamedTemporaryFile("r", suffix=".strace") as out:
        tracer = subprocess.Popen(["strace", "-f", "-c", "-o", out.name, "-p", str(pid)], stderr=subprocess.DEVNULL)
        time.sleep(0.5)  # strace attaches every thread before the load starts
        try:
            result = wrk(run, lua, port, seconds, conns)
        finally:
            tracer.send_signal(2)
            tracer.wait(30)
        return int(result["requests"]), Path(out.name).read_text()


def perf_report(pid: int, seconds: float, run: ModuleType, lua: Path, port: int, conns: int, out: Path) -> None:
    """Sample ``pid`` with ``perf record`` for one wrk run; write the flat report (self time by symbol) to ``out``."""
    data = out.with_suffix(".data")
    out.parent.mkdir(parents=True, exist_ok=True)
    recorder = subprocess.Popen(
        [
            "perf",
            "record",
            "-F",
            "2000",
            *os.environ.get("PERF_RECORD_ARGS", "").split(),
            "-o",
            str(data),
            "-p",
            str(pid),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    try:
        wrk(run, lua, port, seconds, conns)
    finally:
        recorder.send_signal(2)
        recorder.wait(60)
    report = subprocess.run(
        ["perf", "report", "-i", str(data), "--stdio", "--no-children", "--sort", "dso,symbol"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out.with_suffix(".txt").write_text(report.stdout)
    print(f"perf report: {out.with_suffix('.txt')}", flush=True)


def per_request_table(table: str, requests: int) -> str:
    """strace's summary with a calls-per-request column."""
    lines = []
    for line in table.splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[3].isdigit():
            lines.append(f"{parts[-1]:>16} {int(parts[3]) / max(requests, 1):8.3f} calls/request")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", default="ingress,metrics,accesslog,accesslog-file,full")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--strace", action="store_true", help="one more run per variant under strace -f -c")
    parser.add_argument(
        "--perf", default="", help="directory: one more run per variant under perf record, report there"
    )
    parser.add_argument("--env", default="", help="extra environment for ingress, e.g. PYTHONDONTWRITEBYTECODE=1")
    parser.add_argument("--alt-src", default="", help="source directory the NAME@alt variants import hanzo_edge from")
    parser.add_argument(
        "--src", default="", help="source directory the other variants import hanzo_edge from (default: as built)"
    )
    args = parser.parse_args()
    names = [v for v in args.variants.split(",") if v]
    unknown = [v for v in names if v.removesuffix("@alt") not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    run = load_run()
    procs = run.Processes()
    workdir = Path(tempfile.mkdtemp(prefix="obs22-"))
    workdir.chmod(0o755)
    results: dict[str, list[tuple[float, float, float]]] = {n: [] for n in names}
    try:
        backend_dir = workdir / "backend"
        (backend_dir / "www").mkdir(parents=True)
        for d in (backend_dir, backend_dir / "www"):
            d.chmod(0o755)
        backend_port = run.free_port()
        small = run.SMALL_BODY.strip("\n") + "\\n"
        post = run.POST_REPLY.strip("\n") + "\\n"
        conf = run.write_conf(
            backend_dir,
            "nginx.conf",
            run.BACKEND_CONF.format(dir=backend_dir, workers=1, port=backend_port, small=small, post=post),
        )
        backend = procs.start(run.nginx_launch(conf, backend_dir).argv, backend_dir / "out.log")
        run.wait_listening(backend_port, backend, 10, backend_dir / "error.log")
        lua = workdir / "small.lua"
        lua.write_text(run.wrk_lua(run.SCENARIOS["small"]))
        for rnd in range(1, args.rounds + 1):
            for name in names:
                env_text, flags = VARIANTS[name.removesuffix("@alt")]
                if name.endswith("@alt"):
                    # HANZO_EDGE_BUILD keeps ingress-for-bench.sh from putting build/compiled/src first
                    env_text += f" PYTHONPATH={args.alt_src} HANZO_EDGE_BUILD=alt"
                elif args.src:
                    # pinned: a copy of a compiled tree stays what it is while others edit src/ (a stale tree
                    # would otherwise fall back to pure Python)
                    env_text += f" PYTHONPATH={args.src} HANZO_EDGE_BUILD=src"
                rundir = workdir / f"{name.replace('@', '-')}-{rnd}"
                rundir.mkdir()
                port = run.free_port()
                env = dict(os.environ)
                for assignment in (env_text + " " + args.env).split():
                    key, _, value = assignment.partition("=")
                    env[key] = value
                argv = [str(SCRIPT), str(port), f"127.0.0.1:{backend_port}", str(rundir)]
                argv += flags.replace("{workdir}", str(rundir)).split()
                proc = procs.start(argv, rundir / "proxy.log", env=env)
                try:
                    run.wait_listening(port, proc, 30, rundir / "proxy.log")
                    pid = ingress_pid(proc.pid, run)
                    wrk(run, lua, port, args.warmup, args.connections)
                    user0, sys0 = thread_ticks(pid)
                    switches0 = context_switches(pid)
                    result = wrk(run, lua, port, args.seconds, args.connections)
                    user1, sys1 = thread_ticks(pid)
                    switches = (context_switches(pid) - switches0) / max(int(result["requests"]), 1)
                    requests = max(int(result["requests"]), 1)
                    tick_us = 1e6 / run.CLK_TCK
                    user_us = (user1 - user0) * tick_us / requests
                    sys_us = (sys1 - sys0) * tick_us / requests
                    rps = requests / (result["duration_us"] / 1e6)
                    results[name].append((user_us + sys_us, user_us, sys_us))
                    print(
                        f"round {rnd} {name:>18}: {user_us + sys_us:6.1f} us CPU/request "
                        f"(user {user_us:5.1f}, sys {sys_us:5.1f}), {rps:8.0f} req/s, "
                        f"{switches:.3f} voluntary context switches/request",
                        flush=True,
                    )
                    if args.perf and rnd == 1 and shutil.which("perf"):
                        perf_report(pid, args.seconds, run, lua, port, args.connections, Path(args.perf) / name)
                    if args.strace and rnd == 1 and shutil.which("strace"):
                        requests, table = strace_counts(pid, args.seconds, run, lua, port, args.connections)
                        print(per_request_table(table, requests), flush=True)
                finally:
                    procs.stop(proc)
        print("\nmedians (us CPU/request: total, user, sys):")
        base = statistics.median(r[0] for r in results[names[0]]) if results[names[0]] else 0.0
        for name in names:
            rows = results[name]
            if not rows:
                continue
            total = statistics.median(r[0] for r in rows)
            user = statistics.median(r[1] for r in rows)
            system = statistics.median(r[2] for r in rows)
            ratio = f"{total / base:5.2f}x {names[0]}" if base else ""
            print(f"  {name:>18}: {total:6.1f} ({user:5.1f} user, {system:5.1f} sys)  {ratio}")
    finally:
        procs.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
