"""Router errors: every error of a router is reported, errors are kept by kind, entrypoint TLS disables routers."""

from __future__ import annotations

from typing import Any

from hanzo_edge.config.dynamic import decode_dynamic
from hanzo_edge.http.pool import PoolRegistry, TransportOptions
from hanzo_edge.routing.build import BuildResult, build_tables

SERVICE = {"loadBalancer": {"servers": [{"url": "http://127.0.0.1:9"}]}}


def _build(http: dict[str, Any], *, tls_entry_points: tuple[str, ...] = ()) -> BuildResult:
    config, _ = decode_dynamic({"http": http})
    return build_tables(
        {"file": config},
        ["web", "websecure"],
        ["web", "websecure"],
        PoolRegistry(),
        TransportOptions(),
        tls_entry_points=tls_entry_points,
    )


def _names(result: BuildResult, ep: str) -> list[str]:
    return [route.name for route in result.tables[ep].routes]


def test_a_router_gets_its_bad_rule_its_missing_service_and_its_missing_middleware_at_once() -> None:
    result = _build({"routers": {"r": {"rule": "Host(", "service": "nope", "middlewares": ["gone"]}}})

    errors = result.router_errors["r@file"]
    assert len(errors) == 3
    assert errors[0].startswith("invalid rule 'Host(': ")
    assert errors[1:] == ['the service "nope@file" does not exist', 'middleware "gone@file" does not exist']


def test_a_tls_router_reports_its_other_errors_too() -> None:
    result = _build({"routers": {"r": {"rule": "Host(`a`)", "service": "nope", "tls": {}}}})

    assert result.router_errors["r@file"] == [
        'the service "nope@file" does not exist',
        "TLS routers are not served yet (no TLS entrypoint)",
    ]


def test_errors_are_kept_by_kind_when_a_router_and_a_service_share_a_name() -> None:
    service = {"loadBalancer": {"serversTransport": "missing", "servers": [{"url": "http://127.0.0.1:9"}]}}
    result = _build({"routers": {"app": {"rule": "Host(`a`)", "service": "app"}}, "services": {"app": service}})

    assert result.service_errors == {"app@file": ['serversTransport "missing@file" does not exist']}
    assert result.router_errors == {"app@file": ['the service "app@file" could not be built']}


def test_entrypoint_tls_disables_the_router_there_and_it_keeps_serving_elsewhere() -> None:
    result = _build(
        {
            "routers": {
                "both": {"rule": "Host(`a`)", "service": "s"},
                "secure": {"rule": "Host(`b`)", "service": "s", "entryPoints": ["websecure"]},
                "plain": {"rule": "Host(`c`)", "service": "s", "entryPoints": ["web"]},
            },
            "services": {"s": SERVICE},
        },
        tls_entry_points=("websecure",),
    )

    assert _names(result, "web") == ["both@file", "plain@file"]
    assert _names(result, "websecure") == []
    message = (
        'entryPoint "websecure" makes it a TLS router (entryPoints.websecure.http.tls): TLS routers are not served yet'
    )
    assert result.router_errors == {"both@file": [message], "secure@file": [message]}
