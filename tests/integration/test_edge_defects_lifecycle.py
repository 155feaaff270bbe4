"""Issue 9, process lifecycle: workers die with their supervisor, one instance per port, ``ingress healthcheck``,
stop signals during startup, and the quick start's ports (``/metrics`` and ``/ping`` on the metrics entrypoint)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from edge_backend import Backend
from edge_harness import (
    Ingress,
    catch_all,
    children_of,
    clean_env,
    eventually,
    free_port,
    http_request,
    pid_alive,
    run_cli,
    write_dynamic,
)

from hanzo_edge.config.loader import load_static

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
BackendFactory = Callable[..., Backend]
IngressFactory = Callable[..., Ingress]


def _workers(supervisor_pid: int, count: int) -> list[int]:
    return eventually(
        lambda: (kids := children_of(supervisor_pid)) and len(kids) == count and kids,
        timeout=10,
        message=f"supervisor {supervisor_pid} does not have {count} workers",
    )


def _port_is_free(port: int) -> bool:
    """True when 127.0.0.1:``port`` can be bound without SO_REUSEPORT (nobody listens on it any more)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _kill_leftovers(pids: list[int]) -> None:
    """SIGKILL those of ``pids`` that are still our processes (a failed test must not leave servers behind)."""
    for pid in pids:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"hanzo_edge" in cmdline and pid_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _processes_with(argument: str) -> list[int]:
    """Pids whose command line contains ``argument`` (one this test made unique, e.g. a free port)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if argument in cmdline:
                found.append(int(entry))
    return found


def _served_by(port: int, backends: list[Backend], count: int) -> dict[str, int]:
    """Send ``count`` requests on fresh connections; return how many each backend received."""
    before = {b.name: len(b.requests_to("/which")) for b in backends}
    for i in range(count):
        assert http_request(port, path=f"/which?i={i}").status == 200
    return {b.name: len(b.requests_to("/which")) - before[b.name] for b in backends}


# -- workers outlive their supervisor ---------------------------------------------------------------------------------
def test_workers_drain_and_exit_when_their_supervisor_is_killed_and_the_port_comes_free(
    backend: BackendFactory, ingress: IngressFactory
) -> None:
    old_app, new_app = backend("old"), backend("new")
    old = ingress(catch_all(old_app.url), "--workers", "2")
    workers = _workers(old.pid, 2)

    os.kill(old.pid, signal.SIGKILL)

    try:
        eventually(
            lambda: not any(pid_alive(w) for w in workers),
            timeout=20,
            message=lambda: f"workers still alive after their supervisor died: {[w for w in workers if pid_alive(w)]}",
        )
    finally:
        _kill_leftovers(workers)
    eventually(lambda: _port_is_free(old.port), timeout=5, message=f"port {old.port} still has a listener")
    # A new instance on the same port gets every request: no stale worker takes a share.
    new = ingress(catch_all(new_app.url), "--workers", "2", port=old.port)
    _workers(new.pid, 2)
    assert _served_by(new.port, [old_app, new_app], 30) == {"old": 0, "new": 30}


# -- a second instance must not join a served port --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("first_flags", "second_flags"),
    [
        (("--workers", "2"), ("--workers", "2")),
        (("--workers", "2"), ()),
        ((), ("--workers", "2")),
    ],
    ids=["workers-then-workers", "workers-then-single", "single-then-workers"],
)
def test_a_second_instance_on_a_served_port_exits_1_naming_it_and_the_first_keeps_every_request(
    tmp_path: Path,
    backend: BackendFactory,
    ingress: IngressFactory,
    first_flags: tuple[str, ...],
    second_flags: tuple[str, ...],
) -> None:
    first_app, second_app = backend("first"), backend("second")
    first = ingress(catch_all(first_app.url), *first_flags)

    # Its own dynamic file: the fixture's file is named after the port, and the first instance watches that one.
    second_dynamic = write_dynamic(tmp_path / "second.yml", catch_all(second_app.url))
    second_args = [
        f"--entrypoints.web.address=127.0.0.1:{first.port}",
        f"--providers.file.filename={second_dynamic}",
        *second_flags,
    ]
    second = ingress(args=second_args, port=first.port, ready=False)

    assert second.wait(timeout=15) == 1, second.describe()
    expected = (
        f"ingress: entryPoint web: address 127.0.0.1:{first.port} already served by another hanzo-edge instance "
        f"(pid {first.pid})"
    )
    assert expected in second.stderr()
    assert _served_by(first.port, [first_app, second_app], 30) == {"first": 30, "second": 0}


def test_workers_refuse_a_port_another_program_shares_with_so_reuseport(
    backend: BackendFactory, ingress: IngressFactory
) -> None:
    app = backend()
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("127.0.0.1", 0))
        other.listen(8)
        port = other.getsockname()[1]

        proc = ingress(catch_all(app.url), "--workers", "2", port=port, ready=False)

        assert proc.wait(timeout=15) == 1, proc.describe()
        assert f"ingress: cannot listen: entryPoint web: address 127.0.0.1:{port}:" in proc.stderr()
        assert "Address already in use" in proc.stderr()


def test_a_reuse_port_entrypoint_is_shared_on_purpose(backend: BackendFactory, ingress: IngressFactory) -> None:
    # Traefik's `reusePort: true` asks for several processes on one port (e.g. a binary upgrade): not claimed.
    app = backend()
    first = ingress(catch_all(app.url), "--entrypoints.web.reusePort=true")

    second = ingress(catch_all(app.url), "--entrypoints.web.reusePort=true", port=first.port)

    assert first.proc.poll() is None
    assert second.proc.poll() is None


# -- stop signals while starting --------------------------------------------------------------------------------------
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_stop_signal_while_loading_the_configuration_exits_0_without_a_traceback(
    tmp_path: Path, sig: signal.Signals
) -> None:
    # The static file is a FIFO: `ingress` blocks reading it, before any event loop exists, until we write it.
    fifo = tmp_path / "static.yml"
    os.mkfifo(fifo)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hanzo_edge", f"--configFile={fifo}"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=clean_env(),
    )
    try:
        # Opening the FIFO for writing succeeds (non-blocking) only once the reader is at it.
        writer = eventually(lambda: os.open(fifo, os.O_WRONLY | os.O_NONBLOCK), timeout=15)
        proc.send_signal(sig)
        os.set_blocking(writer, True)
        os.write(writer, f'entryPoints:\n  web:\n    address: "127.0.0.1:{port}"\n'.encode())
        os.close(writer)
        output = proc.communicate(timeout=15)[0].decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()

    assert proc.returncode == 0, output
    assert "Traceback" not in output
    assert _port_is_free(port), "stopped before serving: nothing was bound"


# -- ingress healthcheck ----------------------------------------------------------------------------------------------
def _healthcheck(port: int) -> subprocess.CompletedProcess[str]:
    return run_cli(["healthcheck", f"--entrypoints.web.address=127.0.0.1:{port}", "--ping", "--ping.entryPoint=web"])


def test_healthcheck_against_a_running_ingress_prints_ok_and_exits_0(
    backend: BackendFactory, ingress: IngressFactory
) -> None:
    app = backend()
    proxy = ingress(catch_all(app.url), "--ping", "--ping.entryPoint=web")

    result = _healthcheck(proxy.port)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == f"OK: http://127.0.0.1:{proxy.port}/ping\n"
    assert app.requests_to("/ping") == []


def test_healthcheck_with_nothing_listening_exits_1() -> None:
    port = free_port()

    result = _healthcheck(port)

    assert result.returncode == 1
    assert result.stdout.startswith(f'Error calling healthcheck: Head "http://127.0.0.1:{port}/ping": dial tcp ')
    assert "connection refused" in result.stdout


def test_healthcheck_while_draining_after_sigterm_reports_503_and_exits_1(
    backend: BackendFactory, ingress: IngressFactory
) -> None:
    app = backend()
    proxy = ingress(
        catch_all(app.url),
        "--ping",
        "--ping.entryPoint=web",
        "--entrypoints.web.transport.lifeCycle.requestAcceptGraceTimeout=3s",
        "--entrypoints.web.transport.lifeCycle.graceTimeOut=5s",
    )
    assert _healthcheck(proxy.port).returncode == 0

    proxy.signal(signal.SIGTERM)
    draining = eventually(
        lambda: (result := _healthcheck(proxy.port)).returncode == 1 and result,
        timeout=3,
        message="the healthcheck never failed during the accept grace period",
    )

    assert draining.stdout == "Bad healthcheck status: 503 Service Unavailable\n"
    assert proxy.wait(timeout=15) == 0, proxy.describe()


# -- the quick start --------------------------------------------------------------------------------------------------
def test_the_quickstart_serves_metrics_and_ping_on_the_metrics_port_and_ctrl_c_exits_0(tmp_path: Path) -> None:
    web, metrics, backend_port = free_port(), free_port(), free_port()
    env = clean_env(
        {
            "HANZO_QUICKSTART_WEB": f"127.0.0.1:{web}",
            "HANZO_QUICKSTART_METRICS": f"127.0.0.1:{metrics}",
            "HANZO_QUICKSTART_BACKEND_PORT": str(backend_port),
        }
    )
    log = (tmp_path / "quickstart.log").open("wb")
    launcher = subprocess.Popen(
        [sys.executable, "-m", "hanzo_edge.demo.quickstart"],
        cwd=str(REPO),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )

    def output() -> str:
        if not log.closed:
            log.flush()
        return (tmp_path / "quickstart.log").read_text(errors="replace")

    try:
        ping = eventually(lambda: http_request(metrics, path="/ping", timeout=2), timeout=20, message=output)
        assert (ping.status, ping.body) == (200, b"OK")
        scrape = http_request(metrics, path="/metrics")
        assert scrape.status == 200, scrape
        assert b"hanzo_ingress_config_reloads_total" in scrape.body
        hello = eventually(
            lambda: (r := http_request(web, path="/hello", headers={"Host": "whoami.localhost"})).status == 200 and r,
            timeout=10,
            message=output,
        )
        assert b"Name: whoami-1" in hello.body

        os.killpg(launcher.pid, signal.SIGINT)  # what Ctrl-C does: SIGINT to the whole foreground group

        assert launcher.wait(timeout=20) == 0, output()
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait(5)
        log.close()
        # The backend runs in a session of its own; if the launcher could not stop it, this test does.
        _kill_leftovers(_processes_with(f"hanzo_edge.demo.whoami --port {backend_port} "))
    text = output()
    assert "Traceback" not in text
    assert f"http://127.0.0.1:{metrics}/metrics" in text, "the banner names the metrics URL"
    eventually(lambda: _port_is_free(backend_port) and _port_is_free(web), timeout=5, message="something still listens")


def test_the_quickstart_example_itself_puts_metrics_and_ping_on_the_metrics_entrypoint() -> None:
    static = REPO / "examples" / "quickstart" / "ingress.yml"

    config = load_static([f"--configFile={static}"], {}, search=False)

    assert config.ping is not None
    assert config.ping.entry_point == "metrics"
    assert config.metrics is not None
    assert config.metrics.prometheus is not None
    assert config.metrics.prometheus.entry_point == "metrics"
    assert config.entry_points["metrics"].address == ":9100"
    assert config.entry_points["web"].address == ":8080"
