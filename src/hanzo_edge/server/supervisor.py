"""``--workers N``: N worker processes on ``SO_REUSEPORT`` listeners under one small supervisor.

The supervisor binds nothing itself. It starts each worker as ``python -m hanzo_edge <same arguments>`` with
``HANZO_EDGE_WORKER`` set (so the worker serves instead of supervising), restarts a worker that dies (with a short,
growing backoff so a crash loop does not spin), and on SIGTERM/SIGINT forwards the signal to every worker and waits
for them to drain. The kernel spreads new connections over the workers' listeners.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence

__all__ = ["WORKER_ENV", "run_supervisor"]

WORKER_ENV = "HANZO_EDGE_WORKER"
log = logging.getLogger("hanzo_edge.supervisor")


def _spawn(index: int, argv: Sequence[str]) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env[WORKER_ENV] = str(index)
    return subprocess.Popen([sys.executable, "-m", "hanzo_edge", *argv], env=env)


def run_supervisor(workers: int, argv: Sequence[str], grace: float = 10.0) -> int:
    """Run ``workers`` worker processes until SIGTERM/SIGINT. Returns the exit code (0 after a clean drain)."""
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # Workers publish their metrics here; a scrape of any worker merges them (one shared view of N processes).
    metrics_dir = tempfile.mkdtemp(prefix="hanzo-edge-metrics-")
    os.environ.setdefault("HANZO_EDGE_METRICS_DIR", metrics_dir)
    procs: dict[int, subprocess.Popen[bytes]] = {i: _spawn(i, argv) for i in range(workers)}
    restarts: dict[int, int] = dict.fromkeys(procs, 0)
    log.info("supervisor started %d workers: %s", workers, [p.pid for p in procs.values()])
    while not stopping:
        time.sleep(0.1)
        for index, proc in list(procs.items()):
            code = proc.poll()
            if code is None or stopping:
                continue
            restarts[index] += 1
            delay = min(5.0, 0.1 * 2 ** min(restarts[index], 6))
            log.error("worker %d (pid %d) exited with %s; restarting in %.1fs", index, proc.pid, code, delay)
            time.sleep(delay)
            procs[index] = _spawn(index, argv)
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace + 5.0
    status = 0
    for proc in procs.values():
        remaining = max(0.1, deadline - time.monotonic())
        try:
            code = proc.wait(remaining)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        if code not in (0, -signal.SIGTERM):
            status = 1
    shutil.rmtree(metrics_dir, ignore_errors=True)
    return status
