"""``--workers N``: N worker processes on ``SO_REUSEPORT`` listeners under one small supervisor.

The supervisor binds no listener itself. It starts each worker as ``python -m hanzo_edge <same arguments>`` with
``HANZO_EDGE_WORKER`` set (so the worker serves instead of supervising), restarts a worker that dies (with a short,
growing backoff so a crash loop does not spin), and on SIGTERM/SIGINT forwards the signal to every worker and waits
for them to drain. The kernel spreads new connections over the workers' listeners.

Workers never outlive their supervisor. Each inherits the read end of a pipe (the *lifeline*) whose only write end
the supervisor holds and never writes to; when the supervisor dies, however it dies (``kill -9`` included), the kernel
closes that end and every worker sees end-of-file on its event loop and drains as on SIGTERM. Unlike a parent-death
signal this has no race between fork and setup: an end-of-file that happened before the worker looked stays there.

Workers also inherit the supervisor's port claims (``server.port_guard``) and give them up as their listeners stop
accepting, so no other instance can join the ports while any worker of this one may still accept on them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence

from hanzo_edge.server.port_guard import PortGuard

__all__ = ["GUARDS_ENV", "LIFELINE_ENV", "WORKER_ENV", "inherited_guards", "run_supervisor", "watch_lifeline"]

WORKER_ENV = "HANZO_EDGE_WORKER"
LIFELINE_ENV = "HANZO_EDGE_LIFELINE_FD"
"""The worker's descriptor of the lifeline pipe's read end."""
GUARDS_ENV = "HANZO_EDGE_PORT_GUARDS"
"""The worker's inherited port claims, ``port=fd`` pairs separated by commas."""
log = logging.getLogger("hanzo_edge.supervisor")


def _spawn(index: int, argv: Sequence[str], lifeline: int, guards: Sequence[PortGuard]) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env[WORKER_ENV] = str(index)
    env[LIFELINE_ENV] = str(lifeline)
    held = [guard for guard in guards if guard.fileno() >= 0]
    env[GUARDS_ENV] = ",".join(f"{guard.port}={guard.fileno()}" for guard in held)
    # pass_fds: only these descriptors are inherited; the lifeline's write end in particular never is.
    fds = (lifeline, *(guard.fileno() for guard in held))
    return subprocess.Popen([sys.executable, "-m", "hanzo_edge", *argv], env=env, pass_fds=fds)


def run_supervisor(
    workers: int,
    argv: Sequence[str],
    grace: float = 10.0,
    guards: Sequence[PortGuard] = (),
    *,
    stop_requested: Callable[[], bool] = lambda: False,
) -> int:
    """Run ``workers`` worker processes until SIGTERM/SIGINT. Returns the exit code (0 after a clean drain).

    ``guards`` are this instance's port claims; the workers inherit them, and the supervisor gives its own share up
    once it has told the workers to stop (they keep theirs until they stop accepting). ``stop_requested`` reports a
    signal that arrived before this function installed its own handlers (then no worker is started).
    """
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if stop_requested():
        return 0
    # Workers publish their metrics here; a scrape of any worker merges them (one shared view of N processes).
    metrics_dir = tempfile.mkdtemp(prefix="hanzo-edge-metrics-")
    os.environ.setdefault("HANZO_EDGE_METRICS_DIR", metrics_dir)
    lifeline_read, lifeline_write = os.pipe()  # both ends non-inheritable unless passed explicitly
    procs: dict[int, subprocess.Popen[bytes]] = {i: _spawn(i, argv, lifeline_read, guards) for i in range(workers)}
    restarts: dict[int, int] = dict.fromkeys(procs, 0)
    log.info("supervisor started %d workers: %s", workers, [p.pid for p in procs.values()])
    while not stopping:
        time.sleep(0.1)
        for guard in guards:
            guard.accept_probes()
        for index, proc in list(procs.items()):
            code = proc.poll()
            if code is None or stopping:
                continue
            restarts[index] += 1
            delay = min(5.0, 0.1 * 2 ** min(restarts[index], 6))
            log.error("worker %d (pid %d) exited with %s; restarting in %.1fs", index, proc.pid, code, delay)
            time.sleep(delay)
            procs[index] = _spawn(index, argv, lifeline_read, guards)
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for guard in guards:
        guard.release()
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
    os.close(lifeline_read)
    os.close(lifeline_write)
    shutil.rmtree(metrics_dir, ignore_errors=True)
    return status


# -- the worker's side ------------------------------------------------------------------------------------------------
def watch_lifeline(loop: asyncio.AbstractEventLoop, on_lost: Callable[[], None], env: Mapping[str, str]) -> bool:
    """In a worker: call ``on_lost`` once, from ``loop``, when the supervisor is gone.

    Returns False when ``env`` names no lifeline (not started by a supervisor), True once watching.
    """
    text = env.get(LIFELINE_ENV, "")
    if not text.isdigit():
        return False
    fd = int(text)
    os.set_blocking(fd, False)
    supervisor = os.getppid()

    def readable() -> None:
        try:
            data = os.read(fd, 64)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            return  # the supervisor never writes; ignore anything that is not end-of-file
        loop.remove_reader(fd)
        os.close(fd)
        log.warning("supervisor (pid %d) is gone: draining and exiting", supervisor)
        on_lost()

    loop.add_reader(fd, readable)
    return True


def inherited_guards(env: Mapping[str, str]) -> dict[int, PortGuard]:
    """In a worker: the supervisor's port claims this process inherited, by port."""
    guards: dict[int, PortGuard] = {}
    for item in env.get(GUARDS_ENV, "").split(","):
        port, _, fd = item.partition("=")
        if port.isdigit() and fd.isdigit():
            with contextlib.suppress(OSError):
                guards[int(port)] = PortGuard.adopt(int(port), int(fd))
    return guards
