"""Router errors: every error of a router is reported, errors are kept by kind; TLS routers and their options."""

from __future__ import annotations

from typing import Any

from hanzo_edge.config.dynamic import decode_dynamic
from hanzo_edge.http.pool import PoolRegistry, TransportOptions
from hanzo_edge.routing.build import BuildResult, build_tables

SERVICE = {"loadBalancer": {"servers": [{"url": "http://127.0.0.1:9"}]}}


def _build(
    http: dict[str, Any], *, tls_entry_points: tuple[str, ...] = (), tls: dict[str, Any] | None = None
) -> BuildResult:
    config, _ = decode_dynamic({"http": http, **({"tls": tls} if tls else {})})
    return build_tables(
        {"file": config},
        ["web", "websecure"],
        ["web", "websecure"],
        PoolRegistry(),
        TransportOptions(),
        tls_entry_points=tls_entry_points,
    )


def _names(result: BuildResult, ep: str, *, secure: bool = False) -> list[str]:
    tables = result.secure_tables if secure else result.tables
    return [route.name for route in tables[ep].routes]


def test_a_router_gets_its_bad_rule_its_missing_service_and_its_missing_middleware_at_once() -> None:
    result = _build({"routers": {"r": {"rule": "Host(", "service": "nope", "middlewares": ["gone"]}}})

    errors = result.router_errors["r@file"]
    assert len(errors) == 3
    assert errors[0].startswith("invalid rule 'Host(': ")
    assert errors[1:] == ['the service "nope@file" does not exist', 'middleware "gone@file" does not exist']


def test_a_tls_router_reports_its_other_errors_too() -> None:
    result = _build({"routers": {"r": {"rule": "Host(`a`)", "service": "nope", "tls": {}}}})

    assert result.router_errors["r@file"] == ['the service "nope@file" does not exist']


def test_a_tls_router_with_unknown_or_unservable_options_is_disabled_with_that_error() -> None:
    result = _build(
        {
            "routers": {
                "unknown": {"rule": "Host(`a`)", "service": "s", "tls": {"options": "nope"}},
                "refused": {"rule": "Host(`b`)", "service": "s", "tls": {"options": "curves"}},
            },
            "services": {"s": SERVICE},
        },
        tls={"options": {"curves": {"curvePreferences": ["CurveP256", "CurveP384"]}}},
    )

    assert result.router_errors["unknown@file"] == ["unknown TLS options: nope@file"]
    (message,) = result.router_errors["refused@file"]
    assert message.startswith('TLS options "curves@file": curvePreferences: several curves cannot be set')
    assert _names(result, "web", secure=True) == []


def test_errors_are_kept_by_kind_when_a_router_and_a_service_share_a_name() -> None:
    service = {"loadBalancer": {"serversTransport": "missing", "servers": [{"url": "http://127.0.0.1:9"}]}}
    result = _build({"routers": {"app": {"rule": "Host(`a`)", "service": "app"}}, "services": {"app": service}})

    assert result.service_errors == {"app@file": ['serversTransport "missing@file" does not exist']}
    assert result.router_errors == {"app@file": ['the service "app@file" could not be built']}


def test_entrypoint_tls_makes_its_routers_tls_routers_there_only() -> None:
    result = _build(
        {
            "routers": {
                "both": {"rule": "Host(`a`)", "service": "s"},
                "secure": {"rule": "Host(`b`)", "service": "s", "entryPoints": ["websecure"]},
                "plain": {"rule": "Host(`c`)", "service": "s", "entryPoints": ["web"]},
                "tls": {"rule": "Host(`d`)", "service": "s", "entryPoints": ["web"], "tls": {}},
            },
            "services": {"s": SERVICE},
        },
        tls_entry_points=("websecure",),
    )

    assert _names(result, "web") == ["both@file", "plain@file"]
    assert _names(result, "web", secure=True) == ["tls@file"]
    assert _names(result, "websecure") == []
    assert _names(result, "websecure", secure=True) == ["both@file", "secure@file"]
    assert result.router_errors == {}


def test_routers_asking_different_options_for_one_host_fall_back_to_default() -> None:
    result = _build(
        {
            "routers": {
                "a1": {"rule": "Host(`a.test`)", "service": "s", "tls": {"options": "old"}},
                "a2": {"rule": "Host(`a.test`) && Path(`/x`)", "service": "s", "tls": {}},
                "b": {"rule": "Host(`b.test`)", "service": "s", "tls": {"options": "old"}},
            },
            "services": {"s": SERVICE},
        },
        tls={"options": {"old": {"maxVersion": "VersionTLS12"}}},
    )

    assert result.tls is not None
    assert result.tls.options_for_host("web", "a.test") == "default"
    assert result.tls.options_for_host("web", "b.test") == "old@file"
    assert result.tls.options_for_host("web", "c.test") == "default"
