"""The Docker provider when the engine restarts: the last configuration keeps serving while it is down, and the
provider reconnects and follows the engine again once it is back (its own dockerd, with ``--live-restore`` so the
containers outlive the daemon as in a daemon upgrade)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from docker_engine import DockerEngine, engine_or_skip
from edge_harness import Ingress, eventually, free_port, http_request

IngressFactory = Callable[..., Ingress]
BOUND = 20.0


@pytest.fixture(scope="module")
def live_engine() -> Iterator[DockerEngine]:
    yield from engine_or_skip("--live-restore")


def _answer(port: int, host: str) -> tuple[int, str]:
    response = http_request(port, headers={"Host": host}, timeout=5)
    return response.status, response.body.decode(errors="replace").strip()


def test_engine_restart_keeps_the_last_configuration_and_reconnects(
    live_engine: DockerEngine, ingress: IngressFactory
) -> None:
    survivor, late = free_port(), free_port()
    live_engine.run_httpd(
        "survivor", survivor, "-l", f"traefik.http.services.survivor.loadbalancer.server.port={survivor}"
    )
    port = free_port()
    proc = ingress(
        args=[
            f"--entrypoints.web.address=127.0.0.1:{port}",
            f"--providers.docker.endpoint={live_engine.endpoint}",
            "--providers.providersThrottleDuration=0.05s",
            "--log.level=INFO",
        ],
        port=port,
    )
    eventually(lambda: _answer(port, "survivor") == (200, "survivor"), timeout=BOUND, message=proc.describe)

    live_engine.stop()  # SIGTERM to the pid we started; with --live-restore the container keeps running
    eventually(
        lambda: re.search(r"docker provider: .*keeping the last configuration, retrying", proc.stderr()),
        timeout=BOUND,
        message=proc.describe,
    )
    assert _answer(port, "survivor") == (200, "survivor")  # the engine is gone; its last configuration serves

    live_engine.start()
    eventually(lambda: "connected to the Docker engine" in proc.stderr().split("retrying")[-1], timeout=BOUND)
    live_engine.run_httpd("late", late, "-l", f"traefik.http.services.late.loadbalancer.server.port={late}")
    eventually(lambda: _answer(port, "late") == (200, "late"), timeout=BOUND, message=proc.describe)
    live_engine.docker("rm", "-f", "survivor")
    eventually(lambda: _answer(port, "survivor")[0] == 404, timeout=BOUND, message=proc.describe)
    assert _answer(port, "late") == (200, "late")
