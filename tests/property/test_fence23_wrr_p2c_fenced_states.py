"""The ``wrr`` and ``p2c`` balancers with fenced servers, as state machines (Traefik's status map): whatever the servers
(weights, fenced), health changes and requests, a request without a cookie reaches an up, unfenced server or gets
"no available server" exactly when there is none; a sticky request reaches its server exactly while that server is
up, fenced or not, and otherwise gets a new pick and a new cookie; the service is up, and its parents hear each flip,
exactly while some server is up, fenced ones included."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from hanzo_edge.http.errors import NoAvailableServer
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.services.p2c import PowerOfTwoChoices
from hanzo_edge.services.sticky import StickyCookie, sticky_value
from hanzo_edge.services.wrr import WeightedRoundRobin


@dataclass(frozen=True)
class _Server:
    url: str
    weight: int
    fenced: bool


class _Answer:
    def __init__(self, url: str) -> None:
        self.url = url

    async def __call__(self, req: Request) -> Response:
        return Response(200, Headers([(b"X-Url", self.url.encode())]))


_servers = st.lists(
    st.builds(
        _Server,
        url=st.integers(1, 40).map(lambda n: f"http://10.0.0.{n}:80"),
        weight=st.integers(-1, 3),
        fenced=st.booleans(),
    ),
    max_size=5,
    unique_by=lambda s: s.url,
)
_steps = st.lists(
    st.tuples(st.sampled_from(["status", "pick", "sticky"]), st.integers(0, 4), st.booleans()), max_size=30
)


def _request(cookie: str | None) -> Request:
    raw = [(b"Host", b"x")] + ([(b"Cookie", cookie.encode())] if cookie else [])
    return Request("GET", "/", Headers(raw), host="x")


@settings(max_examples=200, deadline=None)
@given(strategy=st.sampled_from(["wrr", "p2c"]), servers=_servers, steps=_steps, seed=st.integers(0, 2**32 - 1))
def test_fenced_servers_keep_their_health_and_count_for_the_service(
    strategy: str, servers: list[_Server], steps: list[tuple[str, int, bool]], seed: int
) -> None:
    sticky = StickyCookie("svc", name="lb")
    lb: WeightedRoundRobin | PowerOfTwoChoices
    if strategy == "wrr":
        lb = WeightedRoundRobin([], "svc", sticky=sticky, health_check_enabled=True)
    else:
        lb = PowerOfTwoChoices([], "svc", sticky=sticky, health_check_enabled=True, rand=random.Random(seed).randrange)
    for server in servers:
        lb.add(server.url, server.weight, _Answer(server.url), server.fenced)
    # wrr ignores servers of weight <= 0 (as Traefik's); p2c takes every server, whatever its weight (as Traefik's).
    kept = [s for s in servers if strategy == "p2c" or s.weight > 0]
    up = {s.url: True for s in kept}
    flips: list[bool] = []
    lb.register_status_updater(flips.append)
    heard = bool(kept)  # what a parent subscribing now reads from any_up
    changes = 0

    async def run() -> None:
        nonlocal heard, changes
        assert lb.any_up == heard
        for kind, number, flag in steps:
            target = servers[number % len(servers)] if servers else None
            if kind == "status":
                if target is None:
                    continue
                lb.set_status(target.url, flag)
                if target.url in up:
                    up[target.url] = flag
                now = any(up.values())
                assert lb.any_up == now
                if now != heard:
                    heard, changes = now, changes + 1
                assert flips[-1:] == ([now] if changes else [])
                assert len(flips) == changes  # one report per flip, none when the service's status stays
                assert lb.status(target.url) == up.get(target.url)
                continue
            pinned = target if kind == "sticky" else None
            cookie = f"lb={sticky_value(pinned.url)}" if pinned is not None else None
            eligible = {s.url for s in kept if up[s.url] and not s.fenced}
            try:
                resp = await lb(_request(cookie))
            except NoAvailableServer:
                assert not eligible
                assert pinned is None or not up.get(pinned.url, False)
                continue
            answered = resp.headers.get("X-Url")
            if pinned is not None and up.get(pinned.url, False):
                assert (answered, resp.headers.get("Set-Cookie")) == (pinned.url, None)
            else:
                assert answered in eligible
                assert resp.headers.get("Set-Cookie") == f"lb={sticky_value(str(answered))}; Path=/"

    asyncio.run(run())
