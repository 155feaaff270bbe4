"""The gin table's two shortcuts against the paths they skip (``gateway/gin_table.py``).

* A request the Hanzo chain would only pass on (``HanzoChain.idle_check``) goes to the endpoint without the chain's
  coroutine: the endpoint sees the same request and the client gets the same answer as through the chain.
* An endpoint on a fully static path is found by one probe in the table: the same decision as gin's.
"""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from hanzo_edge.gateway.gin_table import GinRoutingTable
from hanzo_edge.gateway.hanzo.chain import METRICS_PATH, HanzoChain
from hanzo_edge.gateway.hanzo.settings import HanzoSettings
from hanzo_edge.gateway.translate import GatewayRoute, GinOptions
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.http.pool import PoolRegistry
from hanzo_edge.routing.table import Route

_ENDPOINTS = [("GET", "/users/{id}"), ("GET", "/users/me"), ("POST", "/users"), ("GET", "/static/a/b")]


def _echo(name: str) -> Handler:
    async def endpoint(req: Request) -> Response:
        seen = b"\n".join(n + b"=" + v for n, v in req.headers.raw)
        return Response(200, Headers([(b"X-Endpoint", name.encode())]), req.method.encode() + b" " + seen)

    return endpoint


def _table(chain: HanzoChain, *, idle: bool) -> GinRoutingTable:
    routes = [Route(f"ep{i}@gateway", 0, lambda req: True, _echo(f"ep{i}")) for i in range(len(_ENDPOINTS))]
    endpoints = [GatewayRoute(f"ep{i}@gateway", m, p) for i, (m, p) in enumerate(_ENDPOINTS)]
    flags = [(m, p, False) for m, p in _ENDPOINTS]
    return GinRoutingTable(
        routes,
        endpoints,
        GinOptions(),
        outer=lambda handler: chain.wrap(handler, flags),
        outer_idle=chain.idle_check() if idle else None,
    )


async def _serve(table: GinRoutingTable, req: Request) -> tuple[int, list[tuple[bytes, bytes]], bytes, str]:
    response = await table.lookup(req)(req)
    body = response.body if isinstance(response.body, bytes) else await response.body.read()
    return response.status, list(response.headers.raw), body, req.route.name if req.route is not None else ""


_NAMES = ["Accept", "User-Agent", "X-Forwarded-For", "X-Real-Ip", "X-User-Id", "X-Hanzo-Org-Id", "Cookie"]
_NAMES += ["X-Request-Id", "Content-Type", "x_iam_roles"]


@settings(max_examples=150, deadline=None)
@given(
    method=st.sampled_from(["GET", "POST", "PUT"]),
    path=st.sampled_from(["/users/7", "/users/me", "/users", "/users/", "/USERS/me", "/static/a/b", "/nope"]),
    headers=st.lists(st.tuples(st.sampled_from(_NAMES), st.sampled_from(["1", "a=b", "x"])), max_size=5),
    env=st.sampled_from([{"AUTH_ENABLED": "false"}, {}]),
)
def test_a_request_the_chain_has_no_work_for_gets_the_same_answer_without_it(
    method: str, path: str, headers: list[tuple[str, str]], env: dict[str, str]
) -> None:
    chain = HanzoChain(HanzoSettings.from_env(env, cwd="/nonexistent"), PoolRegistry())
    assert chain.idle_check() is not None
    outcomes = []
    for table in (_table(chain, idle=True), _table(chain, idle=False)):
        raw = [(b"Host", b"gw.example"), *((n.encode(), v.encode()) for n, v in headers)]
        req = Request(method, path, Headers(raw), host="gw.example")
        outcomes.append(asyncio.run(_serve(table, req)))
    assert outcomes[0] == outcomes[1]


def test_the_chain_is_skipped_only_when_it_would_pass_the_request_on() -> None:
    chain = HanzoChain(HanzoSettings.from_env({}, cwd="/nonexistent"), PoolRegistry())
    idle = chain.idle_check()
    assert idle is not None
    plain = Request("GET", "/users/7", Headers([(b"Host", b"gw"), (b"X-Forwarded-For", b"1.2.3.4")]))
    assert idle(plain)
    assert not idle(Request("GET", METRICS_PATH, Headers([(b"Host", b"gw")])))
    assert not idle(Request("GET", "/users/7", Headers([(b"Authorization", b"Bearer t")])))
    assert not idle(Request("GET", "/users/7", Headers([(b"X-User-Id", b"forged")])))


def test_an_environment_with_work_on_every_request_never_skips_the_chain() -> None:
    required = HanzoChain(HanzoSettings.from_env({"AUTH_REQUIRE": "true"}, cwd="/nonexistent"), PoolRegistry())
    assert required.idle_check() is None
    limited = HanzoChain(HanzoSettings.from_env({}, cwd="/nonexistent"), PoolRegistry(), endpoint_body_limit=1024)
    assert limited.idle_check() is None
