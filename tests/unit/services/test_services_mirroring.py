"""Mirroring: Traefik's deterministic percent counter, body buffering rules, fire-and-forget copies."""

from __future__ import annotations

import asyncio

import pytest
from services_fakes import Child, FailingChild, Spawner, request, stream

from hanzo_edge.http.body import StreamBody
from hanzo_edge.http.errors import ClientClosed, ConnectError
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.services.generation import TaskScope
from hanzo_edge.services.mirroring import Mirroring


def _run_requests(mirroring: Mirroring, spawner: Spawner, n: int) -> None:
    async def scenario() -> None:
        for _ in range(n):
            await mirroring(request())
            await spawner.run_all()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("percent", "expected_count", "first_indices"),
    [
        pytest.param(0, 0, [], id="0%"),
        pytest.param(10, 10, [1, 11, 21], id="10%"),
        pytest.param(25, 25, [1, 5, 9], id="25%"),
        pytest.param(50, 50, [1, 3, 5], id="50%"),
        pytest.param(100, 100, [1, 2, 3], id="100%"),
    ],
)
def test_percent_distribution_over_100_requests(percent: int, expected_count: int, first_indices: list[int]) -> None:
    main = Child("main")
    seen: list[int] = []

    class Counting(Child):
        async def __call__(self, req: Request) -> Response:
            seen.append(main.calls)
            return await super().__call__(req)

    spawner = Spawner()
    mirroring = Mirroring(main, [("shadow", Counting("shadow"), percent)], spawner, "m@file")
    _run_requests(mirroring, spawner, 100)
    assert main.calls == 100
    assert len(seen) == expected_count
    assert seen[:3] == first_indices
    assert mirroring.mirror_counts() == {"shadow": expected_count}


def test_two_mirrors_count_independently() -> None:
    spawner = Spawner()
    a, b = Child("a"), Child("b")
    mirroring = Mirroring(Child("main"), [("a", a, 30), ("b", b, 70)], spawner, "m@file")
    _run_requests(mirroring, spawner, 100)
    assert (a.calls, b.calls) == (30, 70)


@pytest.mark.parametrize("percent", [-1, 101])
def test_percent_out_of_range_is_refused(percent: int) -> None:
    with pytest.raises(ValueError, match="percent"):
        Mirroring(Child("main"), [("x", Child("x"), percent)], Spawner())


def _serve(mirroring: Mirroring, req: Request, spawner: Spawner) -> Response:
    async def scenario() -> Response:
        resp = await mirroring(req)
        await spawner.run_all()
        return resp

    return asyncio.run(scenario())


def test_unmirrored_request_passes_the_stream_untouched() -> None:
    main = Child("main")
    spawner = Spawner()
    mirroring = Mirroring(main, [("shadow", Child("shadow"), 0)], spawner)
    body = stream(b"abc", length=3)
    req = request(method="POST", body=body)
    _serve(mirroring, req, spawner)
    assert main.requests[0].body is body
    assert spawner.coros == []


@pytest.mark.parametrize(
    "make_body",
    [
        pytest.param(lambda: b"payload", id="bytes body"),
        pytest.param(lambda: stream(b"pay", b"load"), id="chunked stream"),
        pytest.param(lambda: stream(b"payload", length=7), id="stream with length"),
    ],
)
def test_mirrored_body_is_read_once_and_shared(make_body: object) -> None:
    main, shadow = Child("main"), Child("shadow")
    spawner = Spawner()
    mirroring = Mirroring(main, [("shadow", shadow, 100)], spawner)
    req = request(method="POST", body=make_body())  # type: ignore[operator]
    _serve(mirroring, req, spawner)
    assert main.bodies == [b"payload"]
    assert shadow.bodies == [b"payload"]
    assert shadow.requests[0] is not main.requests[0]
    assert shadow.requests[0].method == "POST"
    assert shadow.requests[0].headers.get("Host") == "example.org"


def test_mirror_body_false_sends_copies_without_body_and_keeps_the_stream() -> None:
    main, shadow = Child("main"), Child("shadow")
    spawner = Spawner()
    mirroring = Mirroring(main, [("shadow", shadow, 100)], spawner, mirror_body=False)
    body = stream(b"payload")
    _serve(mirroring, request(method="POST", body=body), spawner)
    assert main.requests[0].body is body
    assert main.bodies == [b"payload"]
    assert shadow.bodies == [b""]


@pytest.mark.parametrize(
    ("chunks", "as_stream", "length", "max_size", "mirrored"),
    [
        pytest.param([b"12345"], False, None, 5, True, id="bytes at the limit"),
        pytest.param([b"123456"], False, None, 5, False, id="bytes over the limit"),
        pytest.param([b"123", b"45"], True, None, 5, True, id="stream at the limit"),
        pytest.param([b"123", b"456", b"789"], True, None, 5, False, id="stream over the limit"),
        pytest.param([b"123456"], True, 6, 5, False, id="declared length over the limit"),
        pytest.param([b"123456789"], True, None, -1, True, id="unlimited"),
        pytest.param([], True, 0, 0, True, id="empty stream"),
    ],
)
def test_max_body_size(chunks: list[bytes], as_stream: bool, length: int | None, max_size: int, mirrored: bool) -> None:
    main, shadow = Child("main"), Child("shadow")
    spawner = Spawner()
    mirroring = Mirroring(main, [("shadow", shadow, 100)], spawner, max_body_size=max_size)
    payload = b"".join(chunks)
    body = stream(*chunks, length=length) if as_stream else payload
    _serve(mirroring, request(method="POST", body=body), spawner)
    assert main.bodies == [payload]  # the main service always gets the whole body
    assert shadow.bodies == ([payload] if mirrored else [])


def test_oversized_stream_reaches_main_whole_including_later_chunks() -> None:
    async def scenario() -> tuple[bytes, int]:
        main, shadow = Child("main"), Child("shadow")
        spawner = Spawner()
        mirroring = Mirroring(main, [("shadow", shadow, 100)], spawner, max_body_size=4)
        body = StreamBody(None)
        req = request(method="POST", body=body)
        body.feed(b"abc")
        task = asyncio.ensure_future(mirroring(req))
        await asyncio.sleep(0)
        body.feed(b"def")  # crosses the limit: no mirroring
        await asyncio.sleep(0)
        body.feed(b"ghi")
        body.feed_eof()
        await task
        await spawner.run_all()
        return main.bodies[0], shadow.calls

    assert asyncio.run(scenario()) == (b"abcdefghi", 0)


def test_copies_go_out_after_the_main_response_head() -> None:
    order: list[str] = []
    spawner = Spawner()

    async def main(req: Request) -> Response:
        order.append("main")
        return Response(200)

    async def shadow(req: Request) -> Response:
        order.append("shadow")
        return Response(200)

    async def scenario() -> None:
        mirroring = Mirroring(main, [("shadow", shadow, 100)], spawner)
        await mirroring(request())
        order.append("returned")
        await spawner.run_all()

    asyncio.run(scenario())
    assert order == ["main", "returned", "shadow"]


def test_copies_run_in_the_scope_and_drain_the_mirror_response() -> None:
    body = stream(b"x" * 10, b"y" * 10)

    async def shadow(req: Request) -> Response:
        return Response(200, Headers(), body)

    async def scenario() -> None:
        scope = TaskScope()
        mirroring = Mirroring(Child("main"), [("shadow", shadow, 100)], scope.spawn)
        await mirroring(request())
        while len(scope):
            await asyncio.sleep(0)
        await scope.aclose()

    asyncio.run(scenario())
    assert body.consumed


def test_client_gone_means_no_copies() -> None:
    spawner = Spawner()
    shadow = Child("shadow")
    mirroring = Mirroring(FailingChild(ClientClosed("gone")), [("shadow", shadow, 100)], spawner)
    with pytest.raises(ClientClosed):
        _serve(mirroring, request(), spawner)
    assert shadow.calls == 0


def test_main_failure_still_mirrors_and_reraises() -> None:
    spawner = Spawner()
    shadow = Child("shadow")
    mirroring = Mirroring(FailingChild(ConnectError("down")), [("shadow", shadow, 100)], spawner)

    async def scenario() -> None:
        with pytest.raises(ConnectError):
            await mirroring(request())
        await spawner.run_all()

    asyncio.run(scenario())
    assert shadow.calls == 1


def test_mirror_errors_are_swallowed() -> None:
    spawner = Spawner()
    failing = FailingChild(ConnectError("mirror down"))
    ok = Child("ok")
    mirroring = Mirroring(Child("main"), [("bad", failing, 100), ("ok", ok, 100)], spawner)
    resp = _serve(mirroring, request(), spawner)
    assert resp.status == 200
    assert (failing.calls, ok.calls) == (1, 1)


def test_upgrade_requests_are_not_mirrored() -> None:
    spawner = Spawner()
    shadow = Child("shadow")
    mirroring = Mirroring(Child("main"), [("shadow", shadow, 100)], spawner)
    req = request()
    req.upgrade = True
    _serve(mirroring, req, spawner)
    assert shadow.calls == 0
