"""LeastTime (``loadBalancer.strategy: leasttime``): scores from response times, in-flight counts and weights on a fake
clock; ties by weighted round robin; health, fenced servers and sticky cookies."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from services_fakes import Child, FailingChild, GatedChild, child_name, request, settle

from fakes import FakeClock
from hanzo_edge.http.errors import ConnectError, NoAvailableServer
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.services.leasttime import SAMPLE_SIZE, LeastTime
from hanzo_edge.services.loadbalancer import PassiveOptions, build_load_balancer
from hanzo_edge.services.sticky import StickyCookie, sticky_value


class TimedChild:
    """A server that takes ``ms`` milliseconds of the fake clock to answer (the clock moves while it "works")."""

    def __init__(self, name: str, clock: FakeClock, ms: float) -> None:
        self.name = name
        self.clock = clock
        self.ms = ms
        self.calls = 0

    async def __call__(self, req: Request) -> Response:
        self.calls += 1
        self.clock.advance(self.ms / 1000)
        return Response(200, Headers([(b"X-Child", self.name.encode())]))


def _serve_all(lb: LeastTime, count: int) -> Counter[str]:
    async def scenario() -> Counter[str]:
        return Counter([child_name(await lb(request())) for _ in range(count)])

    return asyncio.run(scenario())


def _serve_all_in_order(lb: LeastTime, count: int) -> list[str]:
    async def scenario() -> list[str]:
        return [child_name(await lb(request())) for _ in range(count)]

    return asyncio.run(scenario())


def test_cold_servers_share_by_weight_three_to_one() -> None:
    # No answer timed yet (or every answer under a millisecond): every score is 0 and weighted round robin decides.
    lb = LeastTime("svc@file", clock=FakeClock())
    lb.add("a", 3, Child("a"))
    lb.add("b", 1, Child("b"))
    first = _serve_all_in_order(lb, 8)
    counts = _serve_all(lb, 392)
    # Traefik staggers the starts (b's first deadline is one 1/weight after a's: 4/3 against 1/3), so a leads by one
    # pick; from then on it is exactly three of a for one of b.
    assert first == ["a", "a", "a", "a", "b", "a", "a", "a"]
    assert counts + Counter(first) == {"a": 301, "b": 99}


def test_the_slowest_server_is_avoided() -> None:
    clock = FakeClock()
    lb = LeastTime("svc@file", clock=clock)
    servers = {name: TimedChild(name, clock, ms) for name, ms in (("a", 5), ("b", 50), ("c", 5))}
    for name, server in servers.items():
        lb.add(name, 1, server)
    counts = _serve_all(lb, 100)
    # Cold, each server answers once (a, b, c in deadline order); from then on b's 50 ms average loses every pick and
    # a and c (equal scores) alternate.
    assert counts == {"a": 50, "b": 1, "c": 49}
    assert (lb.average_ms("a"), lb.average_ms("b")) == (5.0, 50.0)


def test_weights_divide_the_score() -> None:
    clock = FakeClock()
    lb = LeastTime("svc@file", clock=clock)
    lb.add("a", 1, TimedChild("a", clock, 10))
    lb.add("b", 2, TimedChild("b", clock, 15))
    counts = _serve_all(lb, 20)
    # After one answer each: a scores 10 / 1, b scores 15 / 2 = 7.5, so b takes every later request.
    assert counts == {"a": 1, "b": 19}


def test_requests_in_flight_multiply_the_score() -> None:
    async def scenario() -> list[str]:
        clock = FakeClock()
        fast, slow = GatedChild("fast"), GatedChild("slow")
        lb = LeastTime("svc@file", clock=clock)
        lb.add("fast", 1, fast)
        lb.add("slow", 1, slow)
        # One timed answer each: fast 10 ms, slow 25 ms.
        for gated, ms in ((fast, 10), (slow, 25)):
            task = asyncio.ensure_future(lb(request()))
            await settle()
            clock.advance(ms / 1000)
            gated.release()
            await task
        assert (lb.average_ms("fast"), lb.average_ms("slow")) == (10.0, 25.0)
        picks = []
        held = []
        for _ in range(3):  # fast: 10 x 1 < 25, then 10 x 2 < 25, then 10 x 3 = 30 > 25: slow
            waiting = len(fast.pending)
            held.append(asyncio.ensure_future(lb(request())))
            await settle()
            picks.append("fast" if len(fast.pending) > waiting else "slow")
        assert (lb.inflight("fast"), lb.inflight("slow")) == (2, 1)
        while fast.pending:
            fast.release()
        while slow.pending:
            slow.release()
        await asyncio.gather(*held)
        assert (lb.inflight("fast"), lb.inflight("slow")) == (0, 0)
        return picks

    assert asyncio.run(scenario()) == ["fast", "fast", "slow"]


def test_response_times_are_whole_milliseconds_over_the_last_hundred() -> None:
    clock = FakeClock()
    child = TimedChild("a", clock, 1.9)  # Go truncates 1.9 ms to 1
    lb = LeastTime("svc@file", clock=clock)
    lb.add("a", 1, child)
    _serve_all(lb, 1)
    assert lb.average_ms("a") == 1.0
    child.ms = 40
    _serve_all(lb, SAMPLE_SIZE - 1)
    assert lb.average_ms("a") == (1 + 40 * (SAMPLE_SIZE - 1)) / SAMPLE_SIZE
    child.ms = 3
    _serve_all(lb, SAMPLE_SIZE)  # the ring is replaced entirely
    assert lb.average_ms("a") == 3.0


def test_a_request_without_an_answer_adds_no_sample() -> None:
    clock = FakeClock()
    lb = LeastTime("svc@file", clock=clock)
    lb.add("a", 1, FailingChild(ConnectError("refused")))

    async def scenario() -> None:
        with pytest.raises(ConnectError):
            await lb(request())

    asyncio.run(scenario())
    assert (lb.average_ms("a"), lb.inflight("a")) == (0.0, 0)


def test_down_servers_are_skipped_and_none_up_is_no_available_server() -> None:
    lb = LeastTime("svc@file", health_check_enabled=True, clock=FakeClock())
    flips: list[bool] = []
    lb.register_status_updater(flips.append)
    lb.add("a", 1, Child("a"))
    lb.add("b", 1, Child("b"))
    lb.set_status("a", False)
    assert _serve_all(lb, 10) == {"b": 10}
    lb.set_status("b", False)
    assert not lb.any_up

    async def scenario() -> None:
        with pytest.raises(NoAvailableServer):
            await lb(request())

    asyncio.run(scenario())
    lb.set_status("a", True)
    assert _serve_all(lb, 3) == {"a": 3}
    assert flips == [False, True]
    assert (lb.status("a"), lb.status("b"), lb.status("nope")) == (True, False, None)


def test_weight_zero_is_ignored_and_no_servers_is_no_available_server() -> None:
    lb = LeastTime("svc@file", clock=FakeClock())
    lb.add("a", 0, Child("a"))
    assert lb.status("a") is None

    async def scenario() -> None:
        with pytest.raises(NoAvailableServer):
            await lb(request())

    asyncio.run(scenario())


def test_sticky_cookie_pins_the_server_and_a_fenced_one_takes_only_sticky_requests() -> None:
    clock = FakeClock()
    sticky = StickyCookie("svc@file", name="lb")
    lb = LeastTime("svc@file", sticky=sticky, clock=clock)
    fast, slow, fenced = TimedChild("fast", clock, 1), TimedChild("slow", clock, 90), Child("fenced")
    lb.add("fast", 1, fast)
    lb.add("slow", 1, slow)
    lb.add("fenced", 1, fenced, fenced=True)

    async def scenario() -> list[tuple[str, str | None]]:
        out = []
        for cookie in (None, None, None, f"lb={sticky_value('slow')}", f"lb={sticky_value('fenced')}", "lb=slow"):
            resp = await lb(request(cookie=cookie))
            out.append((child_name(resp), resp.headers.get("Set-Cookie")))
        return out

    results = asyncio.run(scenario())
    fast_cookie = f"lb={sticky_value('fast')}; Path=/"
    # Cold: fast, then slow (deadline order); then fast wins on time. A valid cookie is honoured without Set-Cookie,
    # also toward the slow server and the fenced one; a legacy value (the raw name) is rewritten.
    assert results == [
        ("fast", fast_cookie),
        ("slow", f"lb={sticky_value('slow')}; Path=/"),
        ("fast", fast_cookie),
        ("slow", None),
        ("fenced", None),
        ("slow", f"lb={sticky_value('slow')}; Path=/"),
    ]
    # Sticky requests bypass the scoring, as in Traefik: only the picked one of slow's three was timed.
    assert slow.calls == 3
    assert lb.average_ms("slow") == 90.0


def test_a_fenced_server_alone_answers_no_available_server_without_a_cookie() -> None:
    lb = LeastTime("svc@file", clock=FakeClock())
    lb.add("a", 1, Child("a"), fenced=True)

    async def scenario() -> None:
        with pytest.raises(NoAvailableServer):
            await lb(request())

    asyncio.run(scenario())


def test_built_with_a_passive_check_the_failing_server_is_taken_out() -> None:
    async def scenario() -> tuple[Counter[str], bool | None]:
        clock = FakeClock()
        built = build_load_balancer(
            "svc@file",
            [("http://a", 1, Child("a", 502)), ("http://b", 1, Child("b"))],
            spawn=lambda coro: coro.close(),
            strategy="leasttime",
            passive=PassiveOptions(max_failed_attempts=1),
            clock=clock,
            sleep=clock.sleep,
        )
        lb = built.balancer
        assert isinstance(lb, LeastTime)
        seen = Counter([child_name(await lb(request())) for _ in range(6)])
        return seen, lb.status("http://a")

    # a answers 502 once (the cold pick goes to it first) and is marked down; b serves the rest.
    assert asyncio.run(scenario()) == (Counter({"a": 1, "b": 5}), False)
