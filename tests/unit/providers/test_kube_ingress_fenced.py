"""Fenced servers (terminating Kubernetes endpoints): no new traffic, but the sticky sessions they have keep going."""

from __future__ import annotations

import asyncio

import pytest

from hanzo_edge.http.errors import NoAvailableServer
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.services.loadbalancer import build_load_balancer
from hanzo_edge.services.sticky import StickyCookie, sticky_value


class Named:
    """A server handler that records which server answered."""

    def __init__(self, name: str, seen: list[str]) -> None:
        self.name = name
        self.seen = seen

    async def __call__(self, req: Request) -> Response:
        self.seen.append(self.name)
        return Response(200)


def _spawn(coro: object) -> object:
    return coro


def request(cookie: str = "") -> Request:
    raw = [(b"Host", b"app.test")] + ([(b"Cookie", cookie.encode())] if cookie else [])
    return Request("GET", "/", Headers(raw), host="app.test")


@pytest.mark.parametrize("strategy", ["wrr", "p2c"])
def test_a_fenced_server_takes_only_its_sticky_requests(strategy: str) -> None:
    seen: list[str] = []
    urls = ("http://a", "http://b", "http://fenced")
    sticky = StickyCookie("svc", name="sticky")
    built = build_load_balancer(
        "svc",
        [(url, 1.0, Named(url, seen)) for url in urls],
        spawn=_spawn,
        strategy=strategy,
        sticky=sticky,
        fenced={"http://fenced"},
    )

    async def run() -> None:
        for _ in range(30):
            await built.balancer(request())
        assert set(seen) == {"http://a", "http://b"}
        seen.clear()
        for _ in range(3):
            await built.balancer(request(f"sticky={sticky_value('http://fenced')}"))
        assert seen == ["http://fenced"] * 3

    asyncio.run(run())


def test_only_fenced_servers_means_no_available_server() -> None:
    built = build_load_balancer("svc", [("http://f", 1.0, Named("f", []))], spawn=_spawn, fenced={"http://f"})
    with pytest.raises(NoAvailableServer):
        asyncio.run(built.balancer(request()))
