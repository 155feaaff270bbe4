"""Docker provider: latency from ``docker start`` / ``docker stop`` to the route changing in ``ingress``.

Starts a private dockerd (the integration tests' ``tests/integration/docker_engine.py``: tmp roots, unix socket,
``local/busybox:test`` imported from busybox-static), one labelled container on the host network serving busybox
httpd on 127.0.0.1, and the real ``ingress`` CLI with ``--providers.docker.endpoint`` pointing at it. Then
``--rounds`` times: ``docker stop`` the container and poll (every ms) until its host answers 404, ``docker start``
it and poll until it answers 200 again, ``--spacing`` seconds apart (wider than ``providersThrottleDuration``).

Each change is timed twice: from before the docker command (what a user sees: the engine's own stop/start time is
included) and from the command's return (the provider's part: event stream, list and inspect, build, swap).
Figures: p50/p99/max per direction.

Run on a quiet machine: ``python benchmarks/docker_events_bench.py --json benchmarks/results/docker_events.json``
(50 rounds, about a minute). Smoke: ``python benchmarks/docker_events_bench.py --rounds 3``. Needs root (dockerd)
and ``scripts/sysdeps.sh`` (docker.io, busybox-static).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from docker_engine import DockerEngine  # noqa: E402

INGRESS_BIN = str(Path(sys.executable).parent / "ingress")
HOST = "bench"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _status(port: int) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/", headers={"Host": HOST})
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError:
        return 0
    finally:
        conn.close()


def _wait_status(port: int, status: int, timeout: float) -> float:
    """Poll every millisecond until the route answers ``status``; return the monotonic time it did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _status(port) == status:
            return time.monotonic()
        time.sleep(0.001)
    raise TimeoutError(f"the route did not answer {status} within {timeout}s")


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(p99 * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--spacing", type=float, default=0.6, help="seconds between two changes")
    parser.add_argument("--timeout", type=float, default=20.0, help="longest wait for one change")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="hanzo-dockerd-", dir="/tmp"))
    engine = DockerEngine(root)
    ingress: subprocess.Popen[bytes] | None = None
    log_path = root / "ingress.log"
    try:
        engine.start()
        engine.build_image()
        backend, port = _free_port(), _free_port()
        label = f"traefik.http.services.{HOST}.loadbalancer.server.port={backend}"
        engine.run_httpd(HOST, backend, "-l", label)
        with open(log_path, "wb") as log:
            ingress = subprocess.Popen(
                [
                    INGRESS_BIN,
                    f"--entrypoints.web.address=127.0.0.1:{port}",
                    f"--providers.docker.endpoint={engine.endpoint}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={k: v for k, v in os.environ.items() if not k.startswith(("TRAEFIK_", "HANZO_INGRESS_"))},
            )
        _wait_status(port, 200, args.timeout)
        stop_total: list[float] = []
        stop_provider: list[float] = []
        start_total: list[float] = []
        start_provider: list[float] = []
        for _ in range(args.rounds):
            for command, status, total, provider in (
                (("stop", "-t", "1", HOST), 404, stop_total, stop_provider),
                (("start", HOST), 200, start_total, start_provider),
            ):
                time.sleep(args.spacing)
                before = time.monotonic()
                engine.docker(*command)
                returned = time.monotonic()
                changed = _wait_status(port, status, args.timeout)
                total.append(changed - before)
                provider.append(max(0.0, changed - returned))
        result: dict[str, Any] = {
            "benchmark": "docker_events",
            "rounds": args.rounds,
            "engine": engine.docker("version", "--format", "{{.Server.Version}}"),
            "stop_to_404": {"from_command": _summary(stop_total), "after_command_returned": _summary(stop_provider)},
            "start_to_200": {
                "from_command": _summary(start_total),
                "after_command_returned": _summary(start_provider),
            },
        }
        print(json.dumps(result, indent=2))
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
        return 0
    finally:
        if ingress is not None:
            ingress.terminate()
            try:
                ingress.wait(timeout=10)
            except subprocess.TimeoutExpired:
                ingress.kill()
                ingress.wait(timeout=10)
        if engine.proc is not None:
            engine.docker("rm", "-f", HOST, check=False)
        engine.stop()
        engine.cleanup()


if __name__ == "__main__":
    sys.exit(main())
