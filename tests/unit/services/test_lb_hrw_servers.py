"""ServerRendezvous (``loadBalancer.strategy: hrw``): the client IP hashed with each server URL, Traefik's score;
the same client on the same server, clients spread by weight, health, fenced servers, sticky ignored."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

import pytest
from services_fakes import Child, child_name, request

from hanzo_edge.http.errors import NoAvailableServer
from hanzo_edge.http.messages import Request
from hanzo_edge.services import hrw as hrw_module
from hanzo_edge.services.hrw import node_score
from hanzo_edge.services.hrw_servers import ServerRendezvous
from hanzo_edge.services.loadbalancer import PassiveOptions, build_load_balancer
from hanzo_edge.services.sticky import StickyCookie

URLS = ("http://10.0.0.11:8080", "http://10.0.1.27:8080", "http://10.0.2.43:8080")
CLIENTS = [f"192.168.{n // 250}.{n % 250 + 1}" for n in range(1200)]


def _from(ip: str) -> Request:
    req = request()
    req.client_ip = ip
    return req


def _balancer(weights: tuple[int, ...] = (1, 1, 1)) -> ServerRendezvous:
    lb = ServerRendezvous("svc@file")
    for url, weight in zip(URLS, weights, strict=True):
        lb.add(url, weight, Child(url))
    return lb


def _picks(lb: ServerRendezvous, clients: list[str]) -> dict[str, str]:
    async def scenario() -> dict[str, str]:
        return {ip: child_name(await lb(_from(ip))) for ip in clients}

    return asyncio.run(scenario())


def test_each_client_keeps_its_server_and_clients_spread_over_all() -> None:
    lb = _balancer()
    first = _picks(lb, CLIENTS)
    assert _picks(_balancer(), CLIENTS) == first  # a new balancer (another process, a reload) agrees
    assert _picks(lb, CLIENTS[:50]) == {ip: first[ip] for ip in CLIENTS[:50]}
    shares = Counter(first.values())
    assert set(shares) == set(URLS)
    assert all(300 <= count <= 500 for count in shares.values()), shares


def test_the_pick_is_traefiks_highest_score_of_ip_and_server_url() -> None:
    weights = (1, 2, 5)
    picks = _picks(_balancer(weights), CLIENTS[:200])
    for ip, picked in picks.items():
        expected = max(zip(URLS, weights, strict=True), key=lambda pair: node_score(ip, pair[0], pair[1]))[0]
        assert picked == expected, ip


def test_weights_share_the_clients_three_to_one() -> None:
    lb = ServerRendezvous("svc@file")
    lb.add(URLS[0], 3, Child("heavy"))
    lb.add(URLS[1], 1, Child("light"))
    shares = Counter(_picks(lb, CLIENTS).values())
    assert 0.70 <= shares["heavy"] / len(CLIENTS) <= 0.80, shares


def test_a_down_server_loses_only_its_clients_and_gets_them_back() -> None:
    lb = _balancer()
    before = _picks(lb, CLIENTS)
    lb.set_status(URLS[1], False)
    during = _picks(lb, CLIENTS)
    assert URLS[1] not in during.values()
    assert all(during[ip] == before[ip] for ip in CLIENTS if before[ip] != URLS[1])
    lb.set_status(URLS[1], True)
    assert _picks(lb, CLIENTS) == before


def test_all_down_is_no_available_server_and_propagates() -> None:
    lb = ServerRendezvous("svc@file", health_check_enabled=True)
    flips: list[bool] = []
    lb.register_status_updater(flips.append)
    lb.add(URLS[0], 1, Child("a"))
    lb.add(URLS[1], 1, Child("b"))
    lb.set_status(URLS[0], False)
    lb.set_status(URLS[1], False)

    async def scenario() -> None:
        with pytest.raises(NoAvailableServer):
            await lb(_from("10.1.1.1"))

    asyncio.run(scenario())
    assert flips == [False]
    assert (lb.any_up, lb.status(URLS[0]), lb.status("http://unknown")) == (False, False, None)


def test_fenced_and_weight_zero_servers_are_never_picked() -> None:
    lb = ServerRendezvous("svc@file")
    lb.add(URLS[0], 1, Child("live"))
    lb.add(URLS[1], 1, Child("fenced"), fenced=True)
    lb.add(URLS[2], 0, Child("zero"))
    assert set(_picks(lb, CLIENTS[:200]).values()) == {"live"}
    only_fenced = ServerRendezvous("svc@file")
    only_fenced.add(URLS[1], 1, Child("fenced"), fenced=True)

    async def scenario() -> None:
        with pytest.raises(NoAvailableServer):
            await only_fenced(_from("10.1.1.1"))

    asyncio.run(scenario())


def test_build_load_balancer_hrw_ignores_sticky_with_a_warning_and_wires_passive_checks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    servers = [(URLS[0], 1.0, Child("a", 502)), (URLS[1], 1.0, Child("b"))]
    with caplog.at_level(logging.WARNING, logger="hanzo_edge.unsupported"):
        built = build_load_balancer(
            "svc@file",
            servers,
            spawn=lambda coro: coro.close(),
            strategy="hrw",
            sticky=StickyCookie("svc@file"),
            passive=PassiveOptions(),
        )
    assert "svc@file: loadBalancer.sticky is ignored with strategy hrw" in caplog.text
    lb = built.balancer
    assert isinstance(lb, ServerRendezvous)
    # A client whose server is a: the 502 marks it down (passive check), and the client moves to b.
    client = next(ip for ip in CLIENTS if node_score(ip, URLS[0], 1) > node_score(ip, URLS[1], 1))

    async def scenario() -> list[tuple[int, str, str | None]]:
        out = []
        for _ in range(2):
            resp = await lb(_from(client))
            out.append((resp.status, child_name(resp), resp.headers.get("Set-Cookie")))
        return out

    assert asyncio.run(scenario()) == [(502, "a", None), (200, "b", None)]
    assert lb.status(URLS[0]) is False


def test_a_fenced_server_keeps_its_health_and_counts_for_the_service_status_as_in_traefik() -> None:
    # Traefik's hrw balancer adds a fenced server to its status map like any other (only the pick skips it): the
    # health checks set its status, and it keeps the service up for its parents while it is up itself.
    lb = ServerRendezvous("svc@file", health_check_enabled=True)
    flips: list[bool] = []
    lb.register_status_updater(flips.append)
    lb.add(URLS[0], 1, Child("live"))
    lb.add(URLS[1], 1, Child("fenced"), fenced=True)
    assert lb.status(URLS[1]) is True
    lb.set_status(URLS[0], False)
    assert (lb.any_up, flips) == (True, [])  # the fenced server still counts
    lb.set_status(URLS[1], False)
    assert (lb.status(URLS[1]), lb.any_up, flips) == (False, False, [False])
    lb.set_status(URLS[1], True)
    assert flips == [False, True]

    async def scenario() -> None:
        with pytest.raises(NoAvailableServer):  # up, but nothing it may pick
            await lb(_from("10.1.1.1"))

    asyncio.run(scenario())
    lb.set_status(URLS[0], True)
    assert flips == [False, True]
    assert set(_picks(lb, CLIENTS[:50]).values()) == {"live"}


def test_health_checks_that_change_nothing_keep_the_remembered_picks(monkeypatch: pytest.MonkeyPatch) -> None:
    # The active checker reports every probe's result (set_status is idempotent): with 100 servers probed every 30 s
    # that is 3 reports a second, and forgetting every client's pick at each one would hash each client again
    # (~0.5 us per server) for nothing. Only a report that changes a status may move clients.
    hashed: list[bytes] = []
    real = hrw_module.fnv1a64

    def counting(data: bytes, state: int = 0xCBF29CE484222325) -> int:
        hashed.append(data)
        return real(data, state)

    monkeypatch.setattr(hrw_module, "fnv1a64", counting)
    lb = _balancer()
    lb.add("http://10.0.3.1:8080", 1, Child("fenced"), fenced=True)
    first = _picks(lb, CLIENTS[:100])
    hashed.clear()
    for url in (*URLS, "http://10.0.3.1:8080"):
        lb.set_status(url, True)  # already up: what every successful probe reports
    assert _picks(lb, CLIENTS[:100]) == first
    assert hashed == []
    moved = first[CLIENTS[0]]
    lb.set_status(moved, False)  # a real change: the clients are picked again
    again = _picks(lb, CLIENTS[:100])
    assert hashed != []
    assert moved not in again.values()
