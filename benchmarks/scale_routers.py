"""Issue 22's "10,000 host routers instead of 201" row: memory, loop stalls and collector passes, and the bench run.

Two modes:

* default (in-process evidence; fine on a loaded machine for memory and collector figures): for each ``--sizes``
  entry it writes the dynamic file ``benchmarks/ingress-for-bench.sh`` writes for ``ROUTERS=N`` (the bench router
  ``Host(`127.0.0.1`)`` plus N-1 decoys ``Host(`svc-i.example.com`)``), starts one ``hanzo_edge.demo.whoami`` backend
  and the ingress under ``benchmarks/scale_probe.py`` (``--providers.file.watch=false``), waits until it serves,
  starts the probe's steady-state window (SIGUSR2), loads it with ``wrk -c64`` for ``--duration`` seconds (a Python
  keep-alive client when wrk is missing), stops it and prints, per size: VmRSS/VmHWM after the load, the collector
  passes per generation in the window (count, total and longest ms), the loop ticker's lateness (p99, p99.9, max ms:
  how long something held the event loop) and wrk's req/s and p99. ``--idle S`` adds a row per size watched for S
  seconds with no requests at all: a loop stall there is a periodic walk, a timer or the collector, not request
  work. ``--source DIR`` (repeatable) runs each size once more with another source tree first on the path (an
  older commit: ``git archive REV src | tar -x -C DIR``), for a before/after in the same invocation. ``--unfreeze``
  adds a row per size with ``PROBE_UNFREEZE=1``: the same run with the tables back in the collector's view (what
  ``gc.freeze()`` buys); ``--collect-at S`` forces one full collection on the loop S seconds into each load, as the
  collector's gen-2 trigger would (its duration and the loop stall it makes, frozen tables or not).
* ``--run-py``: the row's figures as the issue measures them, both table sizes as two ``--proxy`` entries of ONE
  ``../shared/bench/run.py`` run (so load drift hits both alike), nginx as the baseline; extra arguments after
  ``--`` go to run.py.

Quiet machine (the row's figures)::

    .venv/bin/python benchmarks/scale_routers.py --run-py -- --rounds 3 --duration 10 \\
        --json benchmarks/results/scale_routers.json

In-process evidence (any machine, ~1 minute)::

    .venv/bin/python benchmarks/scale_routers.py --sizes 201,10001 --duration 8 --idle 8 --unfreeze --collect-at 4

Smoke (~20 s): ``.venv/bin/python benchmarks/scale_routers.py --sizes 201,2001 --duration 2``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PROBE = ROOT / "benchmarks" / "scale_probe.py"
FOR_BENCH = ROOT / "benchmarks" / "ingress-for-bench.sh"
RUN_PY = ROOT.parent / "shared" / "bench" / "run.py"
REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def dynamic_yaml(routers: int, upstream: str) -> str:
    """The file ``ingress-for-bench.sh`` writes for ``ROUTERS=routers`` (same routers, same order)."""
    decoys = [
        f"    decoy{i}:\n      rule: Host(`svc-{i}.example.com`)\n      service: backend" for i in range(routers - 1)
    ]
    lines = ["http:", "  routers:", *decoys, "    bench:", "      rule: Host(`127.0.0.1`)", "      service: backend"]
    lines += [
        "  services:",
        "    backend:",
        "      loadBalancer:",
        "        servers:",
        f"          - url: http://{upstream}",
    ]
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def started(args: Sequence[str], log: Path, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(list(args), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def serves(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(REQUEST)
            return sock.recv(16).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def wait_until(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def load_with_wrk(port: int, duration: float) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t1", "-c64", f"-d{duration:g}s", "--latency", "-H", "Host: 127.0.0.1", f"http://127.0.0.1:{port}/"],
        capture_output=True,
        text=True,
        timeout=duration + 60,
        check=True,
    ).stdout
    rps = re.search(r"Requests/sec:\s*([\d.]+)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    figures = {"req_s": float(rps.group(1)) if rps else 0.0}
    if p99:
        figures["p99_ms"] = float(p99.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[p99.group(2)]
    return figures


def load_with_socket(port: int, duration: float) -> dict[str, float]:
    """One keep-alive connection, back to back (no wrk here): enough for memory and collector figures."""
    latencies: list[float] = []
    deadline = time.perf_counter() + duration
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            sock.sendall(REQUEST)
            data = b""
            while b"\r\n\r\n" not in data:
                data += sock.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            match = re.search(rb"(?i)content-length:\s*(\d+)", head)
            want = int(match.group(1)) if match else 0
            while len(body) < want:
                body += sock.recv(65536)
            latencies.append(time.perf_counter() - start)
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99)] * 1e3 if latencies else 0.0
    return {"req_s": len(latencies) / duration, "p99_ms": p99}


def measure(
    routers: int,
    duration: float,
    unfreeze: bool,
    work: Path,
    idle: bool = False,
    source: str = "",
    collect_at: float = 0.0,
) -> dict[str, Any]:
    backend, port = free_port(), free_port()
    (work / "dynamic.yml").write_text(dynamic_yaml(routers, f"127.0.0.1:{backend}"))
    out = work / f"probe-{routers}-{int(unfreeze)}.json"
    env = {**os.environ, "PROBE_UNFREEZE": "1" if unfreeze else "0", "PROBE_COLLECT_AT": str(collect_at)}
    if source:  # another source tree (``git archive REV src | tar -x -C DIR``): the "before" of an A/B
        env["PYTHONPATH"] = str(Path(source) / "src")
    whoami = [sys.executable, "-m", "hanzo_edge.demo.whoami", "--port", str(backend), "--name", "backend"]
    ingress = [
        sys.executable,
        str(PROBE),
        str(out),
        "--",
        f"--entrypoints.web.address=127.0.0.1:{port}",
        f"--providers.file.filename={work / 'dynamic.yml'}",
        "--providers.file.watch=false",
    ]
    with started(whoami, work / "whoami.log"), started(ingress, work / f"ingress-{routers}.log", env) as proc:
        if not wait_until(lambda: serves(port), 120):
            raise RuntimeError(f"ingress with {routers} routers did not serve: {(work / f'ingress-{routers}.log')}")
        proc.send_signal(signal.SIGUSR2)
        time.sleep(0.2)  # the signal is handled on the loop; nothing to poll for
        if idle:  # no requests: any loop stall left is a periodic walk, a timer or the collector
            time.sleep(duration)
            load = {"req_s": 0.0}
        else:
            load = load_with_wrk(port, duration) if shutil.which("wrk") else load_with_socket(port, duration)
        proc.terminate()
        proc.wait(60)
    row = {"routers": routers, "unfreeze": unfreeze, "idle": idle, "source": source, "load": load}
    return {**row, **json.loads(out.read_text())}


def print_row(row: dict[str, Any]) -> None:
    rss = row["rss_kib"]
    gc_text = " ".join(
        f"gen{gen}:{v['passes']}x/{v['total_ms']:.1f}ms(max {v['max_ms']:.1f})" for gen, v in row["gc"].items()
    )
    tick = row["ticker"]
    label = f"{row['routers']}{' unfrozen' if row['unfreeze'] else ''}{' idle' if row['idle'] else ''}"
    if row["source"]:
        label += f" [{Path(row['source']).name}]"
    startup = row.get("startup", {})
    if startup.get("gc_over_1ms"):
        passes = " ".join(f"gen{p['generation']}:{p['ms']}ms@{p['at_s']}s" for p in startup["gc_over_1ms"])
        print(f"{label:>16}  start-up (times from the first answer): {passes}")
    print(
        f"{label:>16}  RSS {rss.get('VmRSS', 0) / 1024:6.1f} MiB  HWM {rss.get('VmHWM', 0) / 1024:6.1f} MiB  "
        f"loop late p99/p99.9/max {tick['p99_late_ms']:.1f}/{tick['p999_late_ms']:.1f}/{tick['max_late_ms']:.1f} ms  "
        f"req/s {row['load']['req_s']:.0f}  p99 {row['load'].get('p99_ms', 0):.1f} ms  gc: {gc_text or 'none'}"
    )


def run_py_command(extra: Sequence[str]) -> list[str]:
    entries = []
    for routers in (201, 10001):
        cmd = f"env ROUTERS={routers} sh {FOR_BENCH} {{port}} {{upstream}} {{workdir}}"
        entries += ["--proxy", f"routers{routers}={cmd}"]
    return [sys.executable, str(RUN_PY), "--scenario", "small", "--peers", "nginx", "--start-timeout", "60", *entries]


def main(argv: Sequence[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in args_in:
        cut = args_in.index("--")
        args_in, extra = args_in[:cut], args_in[cut + 1 :]
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="201,10001", help="router counts, comma-separated")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds of load per size")
    parser.add_argument("--unfreeze", action="store_true", help="also run each size with PROBE_UNFREEZE=1")
    parser.add_argument("--idle", type=float, default=0.0, help="also watch each size this long with no requests")
    parser.add_argument("--source", action="append", default=[], help="also run this source tree (DIR/src)")
    parser.add_argument("--collect-at", type=float, default=0.0, help="one full gc.collect() S seconds into the load")
    parser.add_argument("--json", help="write the rows here")
    parser.add_argument("--run-py", action="store_true", help="run ../shared/bench/run.py with both sizes")
    args = parser.parse_args(args_in)
    if args.run_py:
        cmd = [*run_py_command(extra), *extra]
        print(" ".join(cmd), flush=True)
        return subprocess.run(cmd, cwd=ROOT, check=False).returncode
    rows = []
    with tempfile.TemporaryDirectory(prefix="scale22-") as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            for source in ["", *args.source]:
                if args.idle > 0:
                    row = measure(size, args.idle, False, Path(tmp), idle=True, source=source)
                    print_row(row)
                    rows.append(row)
                for unfreeze in (False, True) if args.unfreeze and not source else (False,):
                    row = measure(size, args.duration, unfreeze, Path(tmp), source=source, collect_at=args.collect_at)
                    print_row(row)
                    rows.append(row)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
