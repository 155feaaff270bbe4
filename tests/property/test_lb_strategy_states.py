"""The ``hrw`` and ``leasttime`` balancers as state machines: whatever the servers (weights, fenced), health changes,
client IPs and response times, a pick is always an up, unfenced server of positive weight; "no available server"
comes exactly when there is none; the service is up exactly while a server of positive weight is (fenced or not);
hrw gives one client the same server while nothing changes; nothing stays in flight once the answers are in."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from hanzo_edge.http.errors import NoAvailableServer
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.services.hrw_servers import ServerRendezvous
from hanzo_edge.services.leasttime import LeastTime


class _Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True)
class _Server:
    url: str
    weight: int
    fenced: bool


class _Answer:
    """Answers with its URL after moving the clock by the next scripted delay."""

    def __init__(self, url: str, clock: _Clock, delays: list[float]) -> None:
        self.url = url
        self.clock = clock
        self.delays = delays

    async def __call__(self, req: Request) -> Response:
        self.clock.now += self.delays.pop() if self.delays else 0.0
        return Response(200, Headers([(b"X-Url", self.url.encode())]))


_servers = st.lists(
    st.builds(
        _Server,
        url=st.integers(1, 40).map(lambda n: f"http://10.0.0.{n}:80"),
        weight=st.integers(-1, 4),
        fenced=st.booleans(),
    ),
    max_size=5,
    unique_by=lambda s: s.url,
)
_steps = st.lists(
    st.one_of(
        st.tuples(st.just("status"), st.integers(0, 4), st.booleans()),
        st.tuples(st.just("pick"), st.integers(0, 2**32 - 1), st.just(False)),
    ),
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(
    strategy=st.sampled_from(["hrw", "leasttime"]),
    servers=_servers,
    steps=_steps,
    delays=st.lists(st.floats(0, 0.2), max_size=30),
)
def test_picks_respect_health_fencing_and_weights(
    strategy: str, servers: list[_Server], steps: list[tuple[str, int, bool]], delays: list[float]
) -> None:
    clock = _Clock()
    lb: ServerRendezvous | LeastTime = ServerRendezvous("svc") if strategy == "hrw" else LeastTime("svc", clock=clock)
    for server in servers:
        lb.add(server.url, server.weight, _Answer(server.url, clock, delays), server.fenced)
    up = {s.url: True for s in servers}
    remembered: dict[str, str] = {}

    async def run() -> None:
        for kind, number, flag in steps:
            if kind == "status":
                if servers:
                    url = servers[number % len(servers)].url
                    lb.set_status(url, flag)
                    if up[url] != flag:
                        remembered.clear()
                    up[url] = flag
                # As Traefik's status map: every server of positive weight counts, a fenced one too.
                assert lb.any_up == any(up[s.url] for s in servers if s.weight > 0)
                continue
            ip = f"{number >> 24}.{(number >> 16) & 255}.{(number >> 8) & 255}.{number & 255}"
            req = Request("GET", "/", Headers([(b"Host", b"x")]), host="x", client_ip=ip)
            eligible = {s.url for s in servers if up[s.url] and not s.fenced and s.weight > 0}
            try:
                resp = await lb(req)
            except NoAvailableServer:
                assert not eligible
                continue
            picked = resp.headers.get("X-Url")
            assert picked in eligible
            if strategy == "hrw":
                assert remembered.setdefault(ip, picked) == picked
        if isinstance(lb, LeastTime):
            assert all(lb.inflight(s.url) == 0 for s in servers)

    asyncio.run(run())
