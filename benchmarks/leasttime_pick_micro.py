"""CPU per request of the ``leasttime`` balancer alone (pick, in-flight count, timing), for 2, 10 and 100 servers.

Each server answers at once with a response prepared beforehand; an injected clock makes server ``i`` take
``5 + i % 7`` ms, so the averages differ and every pick scores every server, as in a warm service. The coroutine the
balancer returns is driven by hand (no event loop): what is timed is the balancer's own work. Compare two trees with
``PYTHONPATH=<tree> python benchmarks/leasttime_pick_micro.py LABEL``.
"""

from __future__ import annotations

import sys
import time

from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.services.leasttime import LeastTime


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class _Server:
    """Answers at once, moving the shared clock by its own response time first."""

    def __init__(self, clock: _Clock, ms: float) -> None:
        self.clock = clock
        self.seconds = ms / 1000
        self.response = Response(200, Headers())

    async def __call__(self, req: Request) -> Response:
        self.clock.now += self.seconds
        return self.response


def _drive(lb: LeastTime, req: Request) -> None:
    coro = lb(req)
    try:
        coro.send(None)  # type: ignore[attr-defined]  # a coroutine: the balancer's _serve
    except StopIteration:
        return
    raise RuntimeError("the balancer suspended")  # pragma: no cover - the servers never do


def main(label: str) -> None:
    req = Request("GET", "/", Headers([(b"Host", b"bench")]), host="bench", client_ip="10.0.0.1")
    for count in (2, 10, 100):
        clock = _Clock()
        lb = LeastTime("svc@bench", clock=clock)
        for i in range(count):
            lb.add(f"http://10.1.0.{i}:80", 1, _Server(clock, 5 + i % 7))
        for _ in range(count * 20):
            _drive(lb, req)  # warm: every server has answered
        best = float("inf")
        for _round in range(3):
            started = time.process_time()
            for _ in range(20000):
                _drive(lb, req)
            best = min(best, (time.process_time() - started) / 20000 * 1e6)
        print(f"{label}: {count} servers {best:.2f} us CPU per request")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "leasttime")
