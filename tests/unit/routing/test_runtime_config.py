"""The table build writes what goes wrong into the runtime records; readers (API, check, explain, metrics) only read.

Statuses follow Traefik: an error the router cannot serve with disables it, an entrypoint that refuses it warns (and
disables it once no entrypoint is left); a service that cannot be built and a middleware that cannot be built are
disabled. Routes of the internal provider become routers of the runtime configuration.
"""

from __future__ import annotations

from typing import Any

from hanzo_edge.config.dynamic import decode_dynamic
from hanzo_edge.config.runtime import DISABLED, ENABLED, INTERNAL, WARNING, merge
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.http.pool import PoolRegistry, TransportOptions
from hanzo_edge.routing.build import BuildResult, build_runtime
from hanzo_edge.routing.table import Route

SERVICE = {"loadBalancer": {"servers": [{"url": "http://127.0.0.1:9"}]}}


async def _ok(req: Request) -> Response:
    return Response(200)


def _build(http: dict[str, Any], **options: Any) -> BuildResult:
    config, _ = decode_dynamic({"http": http})
    runtime = merge({"file": config}, entry_point_defaults=["web", "admin"])
    result = build_runtime(runtime, ["web", "admin"], PoolRegistry(), TransportOptions(), **options)
    assert result.runtime is runtime  # the build's errors are in the records it was given
    return result


def test_router_statuses_are_written_by_the_build() -> None:
    result = _build(
        {
            "routers": {
                "ok": {"rule": "Path(`/ok`)", "service": "s"},
                "partly": {"rule": "Path(`/p`)", "service": "s", "entryPoints": ["web", "nope"]},
                "nowhere": {"rule": "Path(`/n`)", "service": "s", "entryPoints": ["nope", "gone"]},
                "broken": {"rule": "Path(", "service": "s"},
            },
            "services": {"s": SERVICE},
        }
    )
    routers = result.runtime.routers

    assert (routers["ok@file"].status, routers["ok@file"].using) == (ENABLED, ["web", "admin"])
    assert (routers["partly@file"].status, routers["partly@file"].using) == (WARNING, ["web"])
    assert routers["partly@file"].errors == ['entryPoint "nope" doesn\'t exist']
    assert (routers["nowhere@file"].status, routers["nowhere@file"].using) == (DISABLED, [])
    assert len(routers["nowhere@file"].errors) == 2
    assert (routers["broken@file"].status, routers["broken@file"].using) == (DISABLED, [])
    assert routers["broken@file"].errors[0].startswith("invalid rule 'Path(': ")


def test_an_entrypoint_tls_router_serves_on_tls_there_and_in_clear_elsewhere() -> None:
    result = _build(
        {"routers": {"r": {"rule": "Path(`/`)", "service": "s"}}, "services": {"s": SERVICE}},
        tls_entry_points=("admin",),
    )
    info = result.runtime.routers["r@file"]
    assert (info.status, info.using) == (ENABLED, ["web", "admin"])


def test_services_and_middlewares_that_cannot_be_built_are_disabled_in_their_records() -> None:
    result = _build(
        {
            "routers": {
                "r": {"rule": "Path(`/r`)", "service": "bad", "entryPoints": ["web"]},
                "m": {"rule": "Path(`/m`)", "service": "s", "middlewares": ["re"], "entryPoints": ["web"]},
            },
            "services": {
                "s": SERVICE,
                "bad": {"loadBalancer": {"servers": [{"url": "http://127.0.0.1:9"}], "serversTransport": "none"}},
                "unused": {"loadBalancer": {"servers": [{"url": "http://127.0.0.1:9"}], "serversTransport": "none"}},
            },
            "middlewares": {"re": {"replacePathRegex": {"regex": "(", "replacement": "/"}}},
        }
    )
    runtime = result.runtime

    assert runtime.services["bad@file"].status == DISABLED
    assert runtime.services["bad@file"].errors == ['serversTransport "none@file" does not exist']
    assert runtime.services["unused@file"].status == ENABLED  # never built, as in Traefik
    assert runtime.services["s@file"].status == ENABLED
    assert runtime.middlewares["re@file"].status == DISABLED
    assert runtime.routers["m@file"].status == DISABLED
    assert runtime.routers["r@file"].errors == ['the service "bad@file" could not be built']


def test_a_middleware_shared_by_routers_keeps_each_error_once_and_the_log_keeps_every_one() -> None:
    result = _build(
        {
            "routers": {
                "a": {"rule": "Path(`/a`)", "service": "s", "middlewares": ["loop1"]},
                "b": {"rule": "Path(`/b`)", "service": "s", "middlewares": ["loop1"]},
            },
            "services": {"s": SERVICE},
            "middlewares": {
                "loop1": {"chain": {"middlewares": ["loop2"]}},
                "loop2": {"chain": {"middlewares": ["loop1"]}},
            },
        }
    )
    message = "middleware chain cycle: loop1@file -> loop2@file -> loop1@file"

    assert result.runtime.middlewares["loop1@file"].errors == [message]  # Traefik's AddError keeps one
    assert result.errors["loop1@file"] == [message, message]  # the log says it for each router
    assert list(result.errors) == ["loop1@file", "a@file", "b@file"]  # in the order the build met them


def test_internal_routes_become_routers_of_the_internal_provider() -> None:
    ping = Route("ping@internal", 2**63 - 1, lambda req: True, _ok, rule="PathPrefix(`/ping`)", service="ping@internal")
    redirect = Route(
        "web-to-secure@internal",
        1,
        lambda req: True,
        _ok,
        rule="HostRegexp(`^.+$`)",
        service="noop@internal",
        middlewares=("redirect-web-to-secure@internal",),
    )
    lost = Route("lost@internal", 1, lambda req: True, _ok, rule="Path(`/`)", service="noop@internal")
    result = _build(
        {"routers": {"r": {"rule": "Path(`/`)", "service": "ping@internal"}}},
        internal_routes={"admin": [ping], "web": [redirect], "gone": [lost]},
        internal_services={"ping@internal": _ok, "noop@internal": _ok},
    )
    runtime = result.runtime

    info = runtime.routers["ping@internal"]
    assert (info.internal, info.provider, info.using, info.priority) == (True, INTERNAL, ["admin"], 2**63 - 1)
    assert info.model.rule == "PathPrefix(`/ping`)"
    assert "lost@internal" not in runtime.routers  # its entrypoint does not exist: not served, not shown
    assert runtime.services["ping@internal"].used_by == ["r@file", "ping@internal"]
    assert runtime.services["noop@internal"].used_by == ["web-to-secure@internal"]
    assert runtime.middlewares["redirect-web-to-secure@internal"].used_by == ["web-to-secure@internal"]
    assert runtime.routers["r@file"].status == ENABLED


def test_the_metrics_servers_come_from_the_runtime_records() -> None:
    result = _build({"services": {"s": SERVICE, "w": {"weighted": {"services": [{"name": "s"}]}}}})
    assert result.runtime.server_urls() == {"s@file": ["http://127.0.0.1:9"]}
