"""``ingress check`` and ``ingress explain`` never start a process nor bind a socket, whatever the static options.

Both build the server's tables offline (``commands/common.py``). Options that make the server start something
(``--tracing``: the span exporter process; ``--workers``: worker processes; ``--metrics.prometheus``,
``--accesslog``, ``--api``) must not make the offline commands start it. The commands run in a real interpreter
whose process and socket primitives are replaced by tripwires that record any use and fail it; the same command
line without tripwires must print exactly the same, so the tripwires changed nothing the command needed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from edge_harness import clean_env, free_port, lb_service, run_cli, write_dynamic

pytestmark = pytest.mark.integration

TRIPWIRES = r"""
import multiprocessing
import os
import socket
import subprocess
import sys

REPORT = sys.argv[1]


def tripped(what):
    with open(REPORT, "a") as report:
        report.write(what + "\n")
    raise RuntimeError(f"an offline command tried to {what}")


def popen(self, args, *rest, **options):
    tripped(f"start a process: {args!r}")


def spawn(*args, **options):
    tripped(f"spawn a process: {args[:2]!r}")


def start(self):
    tripped("start a multiprocessing process")


def bind(self, address):
    tripped(f"bind a socket to {address!r}")


def listen(self, *backlog):
    tripped("listen on a socket")


subprocess.Popen.__init__ = popen
os.fork = lambda: tripped("fork")
os.posix_spawn = os.posix_spawnp = spawn
multiprocessing.Process.start = start
socket.socket.bind = bind
socket.socket.listen = listen

from hanzo_edge.cli import ingress_main

sys.exit(ingress_main(sys.argv[2:]))
"""


def _static_flags(dynamic: Path, port: int) -> list[str]:
    return [
        f"--entrypoints.web.address=127.0.0.1:{port}",
        f"--providers.file.filename={dynamic}",
        "--tracing=true",
        "--tracing.otlp.http.endpoint=http://127.0.0.1:9/v1/traces",
        "--metrics.prometheus=true",
        "--accesslog=true",
        "--api.insecure=true",
        "--ping=true",
        "--ping.entryPoint=web",
        "--workers=2",
    ]


def _guarded(tmp_path: Path, args: list[str]) -> tuple[subprocess.CompletedProcess[str], str]:
    script = tmp_path / "tripwires.py"
    script.write_text(TRIPWIRES)
    report = tmp_path / "tripped.txt"
    report.write_text("")
    result = subprocess.run(
        [sys.executable, str(script), str(report), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    return result, report.read_text()


@pytest.fixture
def dynamic(tmp_path: Path) -> Path:
    return write_dynamic(
        tmp_path / "dynamic.yml",
        {
            "http": {
                "routers": {"site": {"rule": "Host(`app.test`)", "service": "app"}},
                "services": {"app": lb_service("http://127.0.0.1:9")},
            }
        },
    )


@pytest.mark.parametrize(
    "command",
    [["check"], ["explain", "GET", "http://app.test/"], ["explain", "GET", "http://127.0.0.1/ping"]],
    ids=["check", "explain", "explain-internal"],
)
def test_offline_commands_start_no_process_and_bind_no_socket(
    tmp_path: Path, dynamic: Path, command: list[str]
) -> None:
    args = [command[0], *_static_flags(dynamic, free_port()), *command[1:]]

    guarded, tripped = _guarded(tmp_path, args)
    plain = run_cli(args)

    assert tripped == "", tripped
    assert (guarded.returncode, guarded.stdout, guarded.stderr) == (plain.returncode, plain.stdout, plain.stderr)
    assert guarded.returncode == 0, guarded.stderr


def test_the_tripwires_trip_on_the_server_itself(tmp_path: Path, dynamic: Path) -> None:
    """The same interpreter set-up catches what ``ingress`` does when it serves (else the test above proves nothing)."""
    port = free_port()
    guarded, tripped = _guarded(tmp_path, _static_flags(dynamic, port))

    assert guarded.returncode != 0
    claim = b"\0hanzo-edge:tcp:" + str(port).encode()  # the one-instance-per-port claim, first thing it binds
    assert tripped.splitlines()[0] == f"bind a socket to {claim!r}", tripped
