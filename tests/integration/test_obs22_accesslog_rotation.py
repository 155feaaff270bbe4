"""The access log written on the event loop (issue 22) loses no line across SIGUSR1 (logrotate) and SIGTERM."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from edge_harness import eventually, http_request, lb_service

pytestmark = pytest.mark.integration


def _ours(path: Path) -> list[int]:
    """The numbers of the test's requests (``/n/<i>``) logged in ``path``, in file order."""
    if not path.exists():
        return []
    numbers = []
    for text in path.read_text().splitlines():
        target = json.loads(text).get("RequestPath", "")
        if target.startswith("/n/"):
            numbers.append(int(target[3:]))
    return numbers


@pytest.mark.parametrize("buffering", [0, 1000])
def test_rotation_then_shutdown_keeps_every_line(backend, ingress, tmp_path, buffering):
    app = backend("app")
    log = tmp_path / "access.log"
    rotated = tmp_path / "access.log.1"
    proxy = ingress(
        {
            "http": {
                "routers": {"app": {"rule": "PathPrefix(`/n`)", "service": "app"}},
                "services": {"app": lb_service(app.url)},
            }
        },
        "--accesslog=true",
        "--accesslog.format=json",
        f"--accesslog.filePath={log}",
        f"--accesslog.bufferingSize={buffering}",
    )
    for n in range(60):
        assert http_request(proxy.port, path=f"/n/{n}").status == 200
    eventually(lambda: len(_ours(log)) == 60, timeout=5)  # bufferingSize N: the flush timer writes them
    log.rename(rotated)
    for n in range(60, 90):  # logged to the rotated file (still open) until the signal is handled
        assert http_request(proxy.port, path=f"/n/{n}").status == 200
    proxy.signal(signal.SIGUSR1)
    eventually(log.exists, timeout=5)
    for n in range(90, 150):
        assert http_request(proxy.port, path=f"/n/{n}").status == 200
    proxy.signal(signal.SIGTERM)
    assert proxy.wait() == 0
    old, new = _ours(rotated), _ours(log)
    assert old + new == list(range(150)), "every line once, in order"
    assert old[:60] == list(range(60))
    assert new[-60:] == list(range(90, 150))
