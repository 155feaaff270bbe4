"""Process lifecycle: /ping, graceful SIGTERM with accept grace and drain, and the ``--workers`` supervisor."""

from __future__ import annotations

import os
import signal

import pytest
from edge_harness import (
    RawConn,
    catch_all,
    children_of,
    eventually,
    http_request,
    pid_alive,
    request_bytes,
    socket_owner,
)

pytestmark = pytest.mark.integration

PING = ("--ping=true", "--ping.entryPoint=web")


def test_ping_answers_200_ok_on_the_chosen_entrypoint(backend, ingress):
    app = backend()
    proxy = ingress(catch_all(app.url), *PING)

    resp = http_request(proxy.port, path="/ping")

    assert resp.status == 200
    assert resp.body == b"OK"
    assert app.requests_to("/ping") == [], "ping@internal outranks every user router"


def test_sigterm_pings_503_during_accept_grace_drains_in_flight_and_exits_0(backend, ingress):
    app = backend()
    proxy = ingress(
        catch_all(app.url),
        *PING,
        "--entrypoints.web.transport.lifeCycle.requestAcceptGraceTimeout=1s",
        "--entrypoints.web.transport.lifeCycle.graceTimeOut=5s",
    )

    with RawConn(proxy.port, timeout=10) as slow:
        slow.send(request_bytes("GET", "/slow?ms=1500", "site.test"))
        eventually(lambda: app.requests_to("/slow"), timeout=5, message="the slow request never reached the backend")

        proxy.signal(signal.SIGTERM)

        terminating = eventually(
            lambda: http_request(proxy.port, path="/ping", timeout=2).status == 503,
            timeout=1.0,
            interval=0.02,
            message="/ping did not turn 503 within the 1s accept grace period",
        )
        assert terminating
        assert proxy.proc.poll() is None, "the process must keep running while requests are in flight"

        resp = slow.read_response()

    assert resp.status == 200
    assert resp.body == b"slow done"
    assert proxy.wait(timeout=10) == 0, proxy.describe()


def _workers(supervisor_pid: int, count: int) -> list[int]:
    return eventually(
        lambda: (kids := children_of(supervisor_pid)) and len(kids) == count and kids,
        timeout=10,
        message=f"supervisor {supervisor_pid} does not have {count} workers",
    )


def _wait_until_each_worker_serves(port: int, workers: list[int]) -> None:
    """Make requests on fresh connections until every worker has accepted at least one of them."""
    seen: set[int] = set()

    def every_worker_served() -> bool:
        with RawConn(port, timeout=5) as conn:
            conn.send(request_bytes("GET", "/who", "site.test"))
            resp = conn.read_response()
            assert resp.status == 200
            owner = socket_owner(port, conn.local_port, workers)
        if owner is not None:
            seen.add(owner)
        return seen == set(workers)

    eventually(every_worker_served, timeout=15, interval=0, message=lambda: f"only {seen} of {workers} served")


def test_two_workers_both_serve_a_killed_worker_is_replaced_and_sigterm_exits_0(backend, ingress):
    app = backend()
    proxy = ingress(catch_all(app.url), "--workers", "2")
    workers = _workers(proxy.pid, 2)
    _wait_until_each_worker_serves(proxy.port, workers)

    victim, survivor = workers
    os.kill(victim, signal.SIGKILL)
    # Reaped, not merely a zombie: a zombie leader's other threads may still hold the listening socket.
    eventually(lambda: not os.path.exists(f"/proc/{victim}"), timeout=5, message=f"worker {victim} was not reaped")
    for i in range(10):
        assert http_request(proxy.port, path=f"/during-restart?i={i}").status == 200

    replacement = eventually(
        lambda: [p for p in children_of(proxy.pid) if p not in workers],
        timeout=10,
        message="the supervisor did not start a replacement worker",
    )[0]
    assert pid_alive(survivor)
    _wait_until_each_worker_serves(proxy.port, [survivor, replacement])

    proxy.signal(signal.SIGTERM)
    assert proxy.wait(timeout=20) == 0, proxy.describe()
    eventually(lambda: not pid_alive(survivor) and not pid_alive(replacement), timeout=5)
