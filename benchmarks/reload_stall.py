"""Reload stall: how long does changing one router among 10,000 hold up the requests in flight?

Set-up, all on 127.0.0.1 with free ports: one ``hanzo_edge.demo.whoami`` backend and ``ingress`` with a watched file
provider holding ``--routers`` host routers (``Host(`svc-i.example.com`)``, every tenth also ``&& PathPrefix(`/api`)``,
each with its own one-server service, as ``routing_table_bench.py``) plus the measured router ``app``
(``Host(`app.test`)`` → the backend).

A client thread sends back-to-back ``GET /`` with ``Host: app.test`` on ONE keep-alive connection (raw socket, so
the client adds almost nothing) and records each request's start and latency. After ``--settle`` seconds of steady
state the file is rewritten atomically (temporary file + rename) ``--rewrites`` times, ``--interval`` seconds apart;
each rewrite changes one decoy router's rule and its service's server URL (alternating), nothing else.

First the same client runs straight to the backend for ``--settle`` seconds: the floor of this machine (scheduling,
the backend's own pauses), which the ingress's steady state is compared with. Prints, for the steady state and for
each rewrite's window (from the rename to the next one): requests, p99 and worst
latency in ms; then the worst over all rewrites, and the rebuild times the ingress logged
(``configuration generation N applied ... in X ms (longest slice Y ms)``: the wall time of the rebuild and the
longest the event loop was held by one slice of it). Exit status 0 when every rewrite was applied.

The ingress runs under a loop-lag probe (``--no-probe`` to run the plain CLI): a coroutine on its event loop sleeps
1 ms at a time and notes how late each wake-up is, and ``gc.callbacks`` note every collection's generation and
duration; the report then gives, per window, the longest stall the process itself saw (the client's worst also holds
the loopback and the client thread's own scheduling) and the collections of 2 ms or more. ``--stacks`` adds a
watchdog thread that samples the event loop thread's stack when the loop has not ticked for 4 ms (it perturbs the
GIL a little: use it to find a stall's cause, not for the figures).

The ingress's own in-process profile of one rebuild is ``--profile``: no sockets, it loads the same file, builds
generation 1, changes one router, and prints cProfile's top functions for the second load + rebuild.

Run it alone on a quiet machine (the figures are latencies):
``python benchmarks/reload_stall.py --routers 10000 --rewrites 20 --interval 3``
Smoke (≈ 15 s): ``python benchmarks/reload_stall.py --routers 2000 --rewrites 3 --interval 2.5 --settle 1``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
INGRESS = str(BIN / "ingress") if (BIN / "ingress").exists() else "ingress"
REQUEST = b"GET / HTTP/1.1\r\nHost: app.test\r\n\r\n"
APPLIED = re.compile(
    r"configuration generation (\d+) applied \(provider [^)]*\)(?: in ([\d.]+) ms)?(?: \(longest slice ([\d.]+) ms\))?"
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def config_text(routers: int, backend: int, version: int) -> str:
    """The dynamic configuration: ``routers`` decoys plus ``app``; ``version`` changes decoy ``r7`` only."""
    changed = min(7, routers - 1)
    lines = ["http:", "  routers:", "    app:", '      rule: "Host(`app.test`)"', "      service: app"]
    for i in range(routers):
        host = f"svc-{i}-v{version}.example.com" if i == changed else f"svc-{i}.example.com"
        rule = f"Host(`{host}`)"
        if i % 10 == 1:
            rule += " && PathPrefix(`/api`)"
        lines += [f"    r{i}:", f'      rule: "{rule}"', f"      service: s{i}"]
    lines += ["  services:", "    app:", "      loadBalancer:", "        servers:"]
    lines.append(f"          - url: http://127.0.0.1:{backend}")
    for i in range(routers):
        port = 20000 + version if i == changed else 10000 + i % 1000
        lines += [f"    s{i}:", "      loadBalancer:", "        servers:", f"          - url: http://127.0.0.1:{port}"]
    return "\n".join(lines) + "\n"


def write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


@contextlib.contextmanager
def process(args: Sequence[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``args`` with stdout+stderr to ``log``; on exit stop it (SIGTERM, then SIGKILL after 10 s)."""
    with log.open("wb") as out:
        proc = subprocess.Popen(list(args), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


class KeepAliveClient(threading.Thread):
    """Back-to-back GETs on one connection; ``samples`` holds ``(start, latency)`` in seconds (perf_counter)."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.samples: list[tuple[float, float]] = []
        self.failures = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    self._loop(sock)
            except OSError:
                self.failures += 1
                self.stop.wait(0.05)

    def _loop(self, sock: socket.socket) -> None:
        clock = time.perf_counter
        while not self.stop.is_set():
            start = clock()
            sock.sendall(REQUEST)
            if not self._read_response(sock):
                raise OSError("connection closed")
            self.samples.append((start, clock() - start))

    @staticmethod
    def _read_response(sock: socket.socket) -> bool:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return False
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        match = re.search(rb"(?i)content-length:\s*(\d+)", head)
        if not head.startswith(b"HTTP/1.1 200") or match is None:
            raise OSError(f"unexpected response: {head[:80]!r}")
        want = int(match.group(1))
        while len(body) < want:
            chunk = sock.recv(65536)
            if not chunk:
                return False
            body += chunk
        return True


def measure_backend_alone(port: int, seconds: float) -> tuple[int, float, float]:
    """(requests, p99 ms, worst ms) of the same client straight to the backend: the delays the ingress adds nothing
    to (scheduling on a busy machine, the backend's own pauses), for comparing the steady state with."""
    client = KeepAliveClient(port)
    client.start()
    if not wait_for(lambda: len(client.samples) > 100, 30):
        client.stop.set()
        return 0, 0.0, 0.0
    start = time.perf_counter()
    time.sleep(seconds)
    end = time.perf_counter()
    client.stop.set()
    client.join(10)
    return window_stats(client.samples, start, end)


def window_stats(samples: Sequence[tuple[float, float]], start: float, end: float) -> tuple[int, float, float]:
    """(requests, p99 ms, worst ms) of the requests started in [start, end)."""
    latencies = sorted(lat for t, lat in samples if start <= t < end)
    if not latencies:
        return 0, 0.0, 0.0
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return len(latencies), p99 * 1000, latencies[-1] * 1000


def wait_for(predicate: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return True
        time.sleep(0.05)
    return False


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="reload-stall-") as tmp, contextlib.ExitStack() as stack:
        work = Path(tmp)
        # This process's own collector would stall the client: its samples list grows to ~150,000 tuples, and a gen-2
        # pass over them holds the client thread for milliseconds, a delay the ingress never caused. Nothing here makes
        # reference cycles.
        gc.disable()
        backend, ingress_port = free_port(), free_port()
        stack.enter_context(
            process(
                [sys.executable, "-m", "hanzo_edge.demo.whoami", "--port", str(backend), "--name", "app"],
                work / "whoami.log",
            )
        )
        baseline = measure_backend_alone(backend, args.settle)
        dynamic = work / "dynamic.yml"
        write_atomically(dynamic, config_text(args.routers, backend, 0))
        log = work / "ingress.log"
        probe_out = work / "probe.json"
        ingress_args = [
            f"--entrypoints.web.address=127.0.0.1:{ingress_port}",
            f"--providers.file.filename={dynamic}",
            "--log.level=INFO",
        ]
        if args.probe:
            launcher = [sys.executable, __file__, "--serve-probed", str(probe_out)]
            if args.stacks:
                launcher.append("--stacks")
            command = [*launcher, "--", *ingress_args]
        else:
            command = [INGRESS, *ingress_args]
        ingress = stack.enter_context(process(command, log))
        client = KeepAliveClient(ingress_port)
        client.start()
        if not wait_for(lambda: len(client.samples) > 100, 120):
            print("ingress did not serve; log:\n" + log.read_text(errors="replace")[-3000:])
            return 1
        client.failures = 0  # connection refusals while the ingress started up don't count
        marks = [time.perf_counter()]
        time.sleep(args.settle)  # steady state before the first rewrite
        for version in range(1, args.rewrites + 1):
            marks.append(time.perf_counter())
            write_atomically(dynamic, config_text(args.routers, backend, version))
            time.sleep(args.interval)
        marks.append(time.perf_counter())
        client.stop.set()
        client.join(10)
        alive = ingress.poll() is None
        if alive and args.probe:
            ingress.terminate()  # the probe writes its record on the way out
            with contextlib.suppress(subprocess.TimeoutExpired):
                ingress.wait(15)
        text = log.read_text(errors="replace")
        probe = json.loads(probe_out.read_text()) if probe_out.exists() else None
    samples = list(client.samples)
    n, p99, worst = baseline
    print(f"backend alone: requests={n:6d} p99={p99:7.2f} ms worst={worst:7.2f} ms (no ingress: the machine's floor)")
    code = report(args, samples, marks, client.failures, alive, text)
    if probe is not None:
        report_probe(probe, marks)
    elif args.probe:
        print("probe: no record written (the ingress did not stop cleanly)")
    return code


def report(
    args: argparse.Namespace,
    samples: Sequence[tuple[float, float]],
    marks: Sequence[float],
    failures: int,
    alive: bool,
    log_text: str,
) -> int:
    n, p99, worst = window_stats(samples, marks[0], marks[1])
    print(f"routers={args.routers} rewrites={args.rewrites} interval={args.interval}s")
    print(f"steady state:  requests={n:6d} p99={p99:7.2f} ms worst={worst:7.2f} ms")
    worst_all = 0.0
    p99s = []
    for i in range(1, len(marks) - 1):
        n, p99, worst = window_stats(samples, marks[i], marks[i + 1])
        worst_all = max(worst_all, worst)
        p99s.append(p99)
        print(f"rewrite {i:3d}:   requests={n:6d} p99={p99:7.2f} ms worst={worst:7.2f} ms")
    applied = APPLIED.findall(log_text)
    # The start-up generation may or may not log an "applied" line; the rewrites are the generations after it.
    reloads = [(ms, slice_ms) for gen, ms, slice_ms in applied if int(gen) > 1]
    rebuilds = [float(ms) for ms, _ in reloads if ms]
    longest = [float(ms) for _, ms in reloads if ms]
    print(f"worst delay over all rewrites: {worst_all:.2f} ms; median per-rewrite p99: {median(p99s):.2f} ms")
    if rebuilds:
        print(f"rebuild (logged): median {median(rebuilds):.1f} ms, max {max(rebuilds):.1f} ms (wall time)")
    if longest:
        print(f"longest slice holding the loop (logged): median {median(longest):.1f} ms, max {max(longest):.1f} ms")
    print(f"reloads applied: {len(reloads)} ({args.rewrites} expected); client reconnects: {failures}")
    print(f"ingress alive: {alive}")
    if len(reloads) < args.rewrites:
        print("log tail:\n" + "\n".join(log_text.splitlines()[-15:]))
    return 0 if alive and len(reloads) >= args.rewrites else 1


def report_probe(probe: dict[str, Any], marks: Sequence[float]) -> None:
    """Per window: the event loop's longest stall (probe) and the collections of 2 ms or more; then the stacks."""
    lags: list[list[float]] = probe["lags"]
    collections: list[list[float]] = probe["gc"]
    names = ["steady state"] + [f"rewrite {i:3d}" for i in range(1, len(marks) - 1)]
    worst_all = 0.0
    for name, start, end in zip(names, marks, marks[1:], strict=False):
        inside = [lag for at, lag in lags if start <= at < end]
        worst = max(inside, default=0.0) * 1000
        over = sum(1 for lag in inside if lag > 0.005)
        slow_gc = [(int(gen), dur * 1000) for at, gen, dur in collections if start <= at < end and dur >= 0.002]
        if name != "steady state":
            worst_all = max(worst_all, worst)
        gcs = " ".join(f"gen{gen}:{ms:.1f}" for gen, ms in slow_gc) or "-"
        print(f"{name}: loop stall worst {worst:6.2f} ms, stalls > 5 ms: {over:3d}; collections >= 2 ms: {gcs}")
    print(f"loop stall worst over all rewrites (probe): {worst_all:.2f} ms")
    for at, lag, stack in probe.get("stacks", [])[:40]:
        window = next((n for n, a, b in zip(names, marks, marks[1:], strict=False) if a <= at < b), "outside")
        print(f"--- stall sample ({window}, loop silent {lag * 1000:.1f} ms so far):\n{stack}")


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else 0.0


def profile(args: argparse.Namespace) -> int:
    """cProfile of one in-process reload (load of the changed file + build with the previous generation)."""
    import cProfile
    import pstats

    from hanzo_edge.http.pool import PoolRegistry, TransportOptions
    from hanzo_edge.providers.file import load_file_snapshot
    from hanzo_edge.routing.build import build_tables

    with tempfile.TemporaryDirectory(prefix="reload-profile-") as tmp:
        path = Path(tmp) / "dynamic.yml"
        path.write_text(config_text(args.routers, 1, 0))
        config, _ = load_file_snapshot(str(path))
        pools = PoolRegistry()
        first = build_tables({"file": config}, ["web"], ["web"], pools, TransportOptions())
        path.write_text(config_text(args.routers, 1, 1))
        steps: dict[str, float] = {}
        profiler = cProfile.Profile()
        profiler.enable()
        start = time.perf_counter()
        changed, _ = load_file_snapshot(str(path))
        steps["read + YAML + decode"] = time.perf_counter() - start
        start = time.perf_counter()
        same = changed == config
        steps["snapshot compare"] = time.perf_counter() - start
        start = time.perf_counter()
        second = build_tables({"file": changed}, ["web"], ["web"], pools, TransportOptions(), previous=first)
        steps["merge + build"] = time.perf_counter() - start
        profiler.disable()
    for step, seconds in steps.items():
        print(f"{step:24s} {seconds * 1000:8.1f} ms (profiled)")
    print(f"changed={not same} reused services={second.reused_services} routes={len(second.tables['web'])}")
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
    return 0


def slice_sites(args: argparse.Namespace) -> int:
    """In-process: the slices of ``--rewrites`` reloads (snapshot comparison, merge, build, table compile, release),
    each timed and named by where its steps stopped; prints every slice over :data:`SLICE_SECONDS` and the longest
    per site. No sockets, so the figures are the loop-holding work alone."""
    import uvloop

    from hanzo_edge import app as app_module
    from hanzo_edge.app import IngressApp
    from hanzo_edge.config.loader import load_static
    from hanzo_edge.providers.file import load_file_snapshot
    from hanzo_edge.routing import slices as slices_module
    from hanzo_edge.routing.equal_steps import equal_in_steps

    timed: list[tuple[float, str]] = []

    def site(steps: Any) -> str:
        """The innermost generator frame the steps stopped in (``file:function:line``), or "end"."""
        frame_of = steps
        where = "end"
        while frame_of is not None and getattr(frame_of, "gi_frame", None) is not None:
            frame = frame_of.gi_frame
            where = f"{Path(frame.f_code.co_filename).name}:{frame.f_code.co_name}:{frame.f_lineno}"
            frame_of = getattr(frame_of, "gi_yieldfrom", None)
        return where

    async def run_timed(steps: Any, slices: list[float] | None = None) -> Any:
        """slices.run_steps_async, timing each slice and naming where it stopped (the harness's hook)."""
        clock = time.perf_counter
        began = "start"
        while True:
            enabled = gc.isenabled()
            gc.disable()
            started = clock()
            slices_module._deadline = started + slices_module.SLICE_SECONDS
            try:
                next(steps)
            except StopIteration as done:
                timed.append((clock() - started, f"{began} -> end"))
                return done.value
            finally:
                slices_module._deadline = float("inf")
                if enabled:
                    gc.enable()
            spent = clock() - started
            stopped = site(steps)
            timed.append((spent, f"{began} -> {stopped}"))
            began = stopped
            if slices is not None:
                slices.append(spent)
            await asyncio.sleep(0)

    app_module.run_steps_async = run_timed  # type: ignore[attr-defined]

    def snapshot(path: Path, version: int) -> Any:
        path.write_text(config_text(args.routers, 1, version))
        return load_file_snapshot(str(path))[0]

    async def reloads(path: Path) -> None:
        app = IngressApp(load_static(["--entrypoints.web.address=127.0.0.1:0"], {}, search=False))
        config = snapshot(path, 0)
        app.apply_snapshot("file", config)
        for version in range(1, args.rewrites + 1):
            changed = snapshot(path, version)
            await run_timed(equal_in_steps(changed, config))  # the file provider's, then the watcher's comparison
            await run_timed(equal_in_steps(config, changed))
            await app.apply_snapshot_in_slices("file", changed)
            config = changed

    with tempfile.TemporaryDirectory(prefix="reload-slices-") as tmp:
        uvloop.run(reloads(Path(tmp) / "dynamic.yml"))
    budget = slices_module.SLICE_SECONDS
    longest: dict[str, float] = {}
    for spent, where in timed:
        longest[where] = max(spent, longest.get(where, 0.0))
    print(f"{len(timed)} slices over {args.rewrites} reloads; the longest per site (* over {budget * 1000:.1f} ms):")
    for where, spent in sorted(longest.items(), key=lambda item: -item[1])[:25]:
        mark = "*" if spent > budget else " "
        print(f"{mark} {spent * 1000:6.2f} ms  {where}")
    return 0


class LoopProbe:
    """What ``--serve-probed`` records inside the ingress: loop lateness, collections, and (``--stacks``) stalls.

    Times are ``time.perf_counter()`` (CLOCK_MONOTONIC on Linux: the same clock as the client's in the parent)."""

    TICK = 0.001
    WATCHDOG_AFTER = 0.004

    def __init__(self, stacks: bool) -> None:
        self.lags: list[tuple[float, float]] = []  # (when the wake-up was due, how late it came)
        self.collections: list[tuple[float, int, float]] = []  # (start, generation, duration)
        self.stacks: list[tuple[float, float, str]] = []
        self.last_tick = time.perf_counter()
        self._gc_started = 0.0
        self._stacks = stacks
        self._loop_thread = threading.get_ident()
        self._stop = threading.Event()
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            now = time.perf_counter()
            self.collections.append((self._gc_started, info["generation"], now - self._gc_started))

    async def ticks(self) -> None:
        clock = time.perf_counter
        while True:
            due = clock() + self.TICK
            await asyncio.sleep(self.TICK)
            now = clock()
            self.last_tick = now
            if now - due > 0.0005:
                self.lags.append((due, now - due))

    def watchdog(self) -> None:
        """Sample the loop thread's stack once per stall (when it has not ticked for WATCHDOG_AFTER)."""
        sampled_for = 0.0
        while not self._stop.wait(0.001):
            silent = time.perf_counter() - self.last_tick
            if silent < self.WATCHDOG_AFTER:
                sampled_for = 0.0
                continue
            if sampled_for and sampled_for == self.last_tick:
                continue
            sampled_for = self.last_tick
            # Innermost frames of every thread but this one: a loop thread sitting in run_until_complete is in C
            # (waiting for the GIL another thread holds, or in a C call), so the others' stacks say who runs.
            me = threading.get_ident()
            parts = []
            for ident, frame in sys._current_frames().items():
                if ident != me:
                    role = "loop" if ident == self._loop_thread else f"thread {ident}"
                    inner = traceback.extract_stack(frame)[-6:]
                    parts.append(f"[{role}]\n" + "".join(traceback.format_list(inner)))
            self.stacks.append((time.perf_counter(), silent, "".join(parts)))

    async def around(self, main: Coroutine[Any, Any, int]) -> int:
        ticker = asyncio.get_running_loop().create_task(self.ticks())
        watchdog = threading.Thread(target=self.watchdog, daemon=True)
        if self._stacks:
            watchdog.start()
        try:
            return await main
        finally:
            ticker.cancel()
            self._stop.set()

    def dump(self, path: str) -> None:
        record = {"lags": self.lags, "gc": self.collections, "stacks": self.stacks}
        Path(path).write_text(json.dumps(record))


def serve_probed(argv: Sequence[str]) -> int:
    """The ingress CLI (``argv`` after ``--``) with a :class:`LoopProbe` on its event loop; the record goes to
    ``argv[0]`` when it stops."""
    import uvloop

    from hanzo_edge.cli import ingress_main

    out, rest = argv[0], list(argv[1:])
    stacks = "--stacks" in rest[: rest.index("--")]
    ingress_argv = rest[rest.index("--") + 1 :]
    probe = LoopProbe(stacks)
    run_main = uvloop.run

    def probed_run(main: Coroutine[Any, Any, int], **kwargs: Any) -> int:
        return run_main(probe.around(main), **kwargs)

    uvloop.run = probed_run  # the CLI looks uvloop.run up when it serves: the harness's hook, not the product's
    try:
        return ingress_main(ingress_argv)
    finally:
        probe.dump(out)


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--serve-probed":
        return serve_probed(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--routers", type=int, default=10000)
    parser.add_argument("--rewrites", type=int, default=20)
    parser.add_argument("--interval", type=float, default=3.0, help="seconds between rewrites (> throttle, 2 s)")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds of steady state before the first")
    parser.add_argument("--profile", action="store_true", help="profile one reload in-process instead")
    parser.add_argument("--no-probe", dest="probe", action="store_false", help="run the plain CLI, no loop probe")
    parser.add_argument("--stacks", action="store_true", help="sample the loop's stack in each stall of >= 4 ms")
    parser.add_argument("--slices", action="store_true", help="time each reload slice in-process, named by its site")
    args = parser.parse_args()
    if args.slices:
        return slice_sites(args)
    return profile(args) if args.profile else run(args)


if __name__ == "__main__":
    raise SystemExit(main())
