"""Reload under load: rewrite the dynamic configuration many times while ``wrk`` hammers one host; nothing may fail.

Set-up, all on 127.0.0.1 with free ports: three ``hanzo_edge.demo.whoami`` backends named ``app-1``, ``app-2`` and
``decoy``, and ``ingress`` with a watched file provider. Two valid configurations alternate:

* A: ``Host(`app.test`)`` → service ``app`` (servers app-1, app-2); ``Host(`decoy.test`)`` → ``decoy``.
* B: the same router to ``app`` with the servers in the other order and app-2 weighted 2 (so the service is rebuilt),
  an extra router ``PathPrefix(`/extra`)`` → ``decoy``, and a catch-all ``PathPrefix(`/`)`` (priority 1) → ``decoy``.

``wrk`` sends ``GET /`` with ``Host: app.test`` for ``--duration`` seconds; a Lua script checks every response: a
status outside 2xx counts as *non-2xx*, a 2xx whose body does not say ``Name: app-1`` or ``Name: app-2`` counts as
*misrouted* (a table swap that lost the ``app`` router would send B's requests to the decoy catch-all and A's to a
404). Meanwhile the file is rewritten ``--rewrites`` times, evenly spaced, atomically (write + rename, as editors and
ConfigMaps do; ``--in-place`` truncates and rewrites the file instead, which the provider may catch half-written and
must then skip, keeping the last good configuration).

Prints total requests, non-2xx, socket errors (connect/read/write/timeout), misrouted, and how many configuration
generations the ingress applied or rejected (from its INFO log). Exit status 0 when non-2xx, socket errors and
misrouted are all 0. Needs ``wrk`` (``/usr/bin/wrk``). Run it alone on the machine:
``python benchmarks/reload_under_load.py [--duration 20] [--rewrites 100] [--connections 32] [--workers 1]``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

BIN = Path(sys.executable).parent
INGRESS = str(BIN / "ingress") if (BIN / "ingress").exists() else "ingress"
HOST = "app.test"
EXPECTED = ("app-1", "app-2")

LUA = r"""
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  wrk.headers["Host"] = "%(host)s"
  total = 0
  non2xx = 0
  misrouted = 0
end

function response(status, headers, body)
  total = total + 1
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  else
    local name = string.match(body or "", "Name: ([%%w%%-]+)")
    if name ~= "%(first)s" and name ~= "%(second)s" then
      misrouted = misrouted + 1
    end
  end
end

function done(summary, latency, requests)
  local t, n, m = 0, 0, 0
  for _, thread in ipairs(threads) do
    t = t + thread:get("total")
    n = n + thread:get("non2xx")
    m = m + thread:get("misrouted")
  end
  local e = summary.errors
  io.write(string.format("RESULT requests=%%d checked=%%d non2xx=%%d misrouted=%%d " ..
    "connect=%%d read=%%d write=%%d timeout=%%d p99_us=%%d\n",
    summary.requests, t, n, m, e.connect, e.read, e.write, e.timeout, math.floor(latency:percentile(99))))
end
"""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def config_a(ports: dict[str, int]) -> str:
    """Configuration A (see the module docstring)."""
    return f"""\
http:
  routers:
    app:
      rule: Host(`{HOST}`)
      service: app
    decoy:
      rule: Host(`decoy.test`)
      service: decoy
  services:
    app:
      loadBalancer:
        servers:
          - url: http://127.0.0.1:{ports["app-1"]}
          - url: http://127.0.0.1:{ports["app-2"]}
    decoy:
      loadBalancer:
        servers:
          - url: http://127.0.0.1:{ports["decoy"]}
"""


def config_b(ports: dict[str, int]) -> str:
    """Configuration B (see the module docstring)."""
    return f"""\
http:
  routers:
    app:
      rule: Host(`{HOST}`)
      service: app
    decoy:
      rule: Host(`decoy.test`)
      service: decoy
    extra:
      rule: PathPrefix(`/extra`)
      service: decoy
    catch-all:
      rule: PathPrefix(`/`)
      priority: 1
      service: decoy
  services:
    app:
      loadBalancer:
        servers:
          - url: http://127.0.0.1:{ports["app-2"]}
            weight: 2
          - url: http://127.0.0.1:{ports["app-1"]}
    decoy:
      loadBalancer:
        servers:
          - url: http://127.0.0.1:{ports["decoy"]}
"""


def write(path: Path, text: str, *, in_place: bool) -> None:
    """Replace ``path``'s content: atomically (temporary file + rename) unless ``in_place``."""
    if in_place:
        with path.open("w") as handle:
            handle.write(text)
        return
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def get(port: int, path: str = "/", host: str = HOST) -> tuple[int, str]:
    """One GET on a fresh connection: (status, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", path, headers={"Host": host})
        resp = conn.getresponse()
        return resp.status, resp.read().decode("latin-1")
    finally:
        conn.close()


def eventually(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``predicate`` (connection errors count as "not yet") until true; raise RuntimeError on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, http.client.HTTPException):
            if predicate():
                return
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


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


def parse_result(output: str) -> dict[str, int]:
    """The ``RESULT k=v ...`` line of the Lua ``done`` hook as a dict."""
    match = re.search(r"^RESULT (.*)$", output, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"wrk printed no RESULT line:\n{output}")
    return {key: int(value) for key, value in (item.split("=") for item in match.group(1).split())}


def main() -> int:
    """Run the scenario; print the figures; return 0 when nothing failed or was misrouted."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load")
    parser.add_argument("--rewrites", type=int, default=100, help="configuration rewrites during the load")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1, help="ingress --workers")
    parser.add_argument("--in-place", action="store_true", help="truncate and rewrite instead of rename")
    parser.add_argument("--wrk", default=shutil.which("wrk") or "/usr/bin/wrk")
    args = parser.parse_args()
    if not Path(args.wrk).exists():
        print(f"reload_under_load: wrk not found at {args.wrk}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="reload-bench-") as tmp:
        work = Path(tmp)
        return run(args, work)


def run(args: argparse.Namespace, work: Path) -> int:
    """The scenario in directory ``work``."""
    ports = {name: free_port() for name in ("app-1", "app-2", "decoy")}
    ingress_port = free_port()
    dynamic = work / "dynamic.yml"
    configs = (config_a(ports), config_b(ports))
    write(dynamic, configs[0], in_place=False)
    script = work / "check.lua"
    script.write_text(LUA % {"host": HOST, "first": EXPECTED[0], "second": EXPECTED[1]})
    with contextlib.ExitStack() as stack:
        for name, port in ports.items():
            cmd = [sys.executable, "-m", "hanzo_edge.demo.whoami", "--port", str(port), "--name", name]
            stack.enter_context(process(cmd, work / f"{name}.log"))
        for name, port in ports.items():

            def healthy(p: int = port) -> bool:
                return get(p, "/health")[0] == 200

            eventually(healthy, 10, f"backend {name}")
        ingress_log = work / "ingress.log"
        ingress = stack.enter_context(
            process(
                [
                    INGRESS,
                    f"--entrypoints.web.address=127.0.0.1:{ingress_port}",
                    f"--providers.file.filename={dynamic}",
                    "--log.level=INFO",
                    f"--workers={args.workers}",
                ],
                ingress_log,
            )
        )

        def ready() -> bool:
            status, body = get(ingress_port)
            return status == 200 and any(f"Name: {name}" in body for name in EXPECTED)

        eventually(ready, 15, "ingress")
        wrk_cmd = [
            args.wrk,
            f"-t{args.threads}",
            f"-c{args.connections}",
            f"-d{int(args.duration)}s",
            "-s",
            str(script),
            f"http://127.0.0.1:{ingress_port}/",
        ]
        stop = threading.Event()
        rewrites = [0]

        def rewriter() -> None:
            interval = args.duration * 0.9 / max(args.rewrites, 1)
            time.sleep(args.duration * 0.05)
            for i in range(args.rewrites):
                if stop.wait(interval):
                    return
                write(dynamic, configs[(i + 1) % 2], in_place=args.in_place)
                rewrites[0] += 1

        thread = threading.Thread(target=rewriter, daemon=True)
        started = time.monotonic()
        thread.start()
        try:
            wrk = subprocess.run(wrk_cmd, capture_output=True, text=True, timeout=args.duration + 60, check=False)
        finally:
            stop.set()
            thread.join()
        elapsed = time.monotonic() - started
        alive = ingress.poll() is None
    log_text = ingress_log.read_text(errors="replace")
    applied = len(re.findall(r"configuration generation \d+ applied", log_text))
    rejected = log_text.count("keeping the last good configuration")
    if wrk.returncode != 0:
        print(wrk.stdout, wrk.stderr, sep="\n", file=sys.stderr)
        return 2
    result = parse_result(wrk.stdout)
    socket_errors = result["connect"] + result["read"] + result["write"] + result["timeout"]
    print(f"duration:          {elapsed:.1f} s, {args.connections} connections, {args.threads} wrk threads")
    print(f"rewrites:          {rewrites[0]} ({'in place' if args.in_place else 'atomic rename'})")
    print(f"reloads applied:   {applied} (rejected as invalid: {rejected})")
    print(f"total requests:    {result['requests']} ({result['requests'] / elapsed:.0f}/s), p99 {result['p99_us']} us")
    print(f"non-2xx:           {result['non2xx']}")
    print(
        f"socket errors:     {socket_errors} (connect {result['connect']}, read {result['read']}, "
        f"write {result['write']}, timeout {result['timeout']})"
    )
    print(f"misrouted:         {result['misrouted']}")
    print(f"ingress alive:     {alive}")
    failed = result["non2xx"] or socket_errors or result["misrouted"] or not alive
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
