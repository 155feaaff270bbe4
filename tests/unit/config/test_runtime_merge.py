"""The merge stage (:mod:`hanzo_edge.config.runtime`): one pass over the snapshots settles names, defaults and users."""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from typing import Any

from hanzo_edge.config.dynamic import Configuration, Router, decode_dynamic
from hanzo_edge.config.runtime import (
    DISABLED,
    ENABLED,
    MERGE_CHECK_EVERY,
    WARNING,
    Info,
    RuntimeConfig,
    default_entry_points,
    default_priority,
    merge,
    merge_steps,
    qualify,
)
from hanzo_edge.config.static import EntryPoint, StaticConfig
from hanzo_edge.config.types import FrozenDict

LB = {"loadBalancer": {"servers": [{"url": "http://127.0.0.1:9"}, {"url": "http://127.0.0.1:10"}]}}


def _config(data: dict[str, Any]) -> Configuration:
    config, warnings = decode_dynamic(data)
    assert warnings == []
    return config


def test_names_are_qualified_in_their_provider_and_kept_when_already_qualified() -> None:
    file = _config({"http": {"routers": {"r": {"rule": "Path(`/`)", "service": "s"}}, "services": {"s": LB}}})
    other = _config({"http": {"routers": {"x": {"rule": "Path(`/x`)", "service": "s@file", "middlewares": ["m"]}}}})

    runtime = merge({"file": file, "other": other})

    assert sorted(runtime.routers) == ["r@file", "x@other"]
    assert runtime.routers["r@file"].service == "s@file"
    assert runtime.routers["x@other"].service == "s@file"
    assert runtime.routers["x@other"].provider == "other"
    assert runtime.services["s@file"].used_by == ["r@file", "x@other"]
    assert qualify("a@b", "c") == "a@b"
    assert qualify("a", "c") == "a@c"


def test_default_entry_points_and_priority_apply_once_in_the_records() -> None:
    config = _config(
        {
            "http": {
                "routers": {
                    "own": {"rule": "Path(`/own`)", "service": "s", "entryPoints": ["admin"], "priority": 3},
                    "default": {"rule": "Host(`é.test`)", "service": "s"},
                }
            }
        }
    )
    static = StaticConfig(
        entry_points=FrozenDict({"web": EntryPoint(address=":80", as_default=True), "admin": EntryPoint(address=":81")})
    )

    runtime = merge({"file": config}, static)

    assert default_entry_points(static) == ["web"]
    assert runtime.routers["default@file"].entry_points == ("web",)
    assert runtime.routers["own@file"].entry_points == ("admin",)
    assert runtime.routers["own@file"].priority == 3
    assert runtime.routers["default@file"].priority == default_priority("Host(`é.test`)") == 15  # bytes: 14 characters
    # An explicit list wins over the static configuration's defaults.
    assert merge({"file": config}, static, entry_point_defaults=["a", "b"]).routers["default@file"].entry_points == (
        "a",
        "b",
    )


def test_without_asdefault_every_entrypoint_but_traefik_is_a_default() -> None:
    static = StaticConfig(
        entry_points=FrozenDict({"traefik": EntryPoint(address=":8080"), "web": EntryPoint(address=":80")})
    )
    assert default_entry_points(static) == ["web"]


def test_middleware_users_are_the_routers_naming_it_and_internal_references_get_placeholders() -> None:
    config = _config(
        {
            "http": {
                "routers": {
                    "a": {"rule": "Path(`/a`)", "service": "api@internal", "middlewares": ["m", "x@internal"]},
                    "b": {"rule": "Path(`/b`)", "service": "gone", "middlewares": ["m", "gone"]},
                },
                "middlewares": {"m": {"addPrefix": {"prefix": "/p"}}},
            }
        }
    )

    runtime = merge({"file": config})

    assert runtime.middlewares["m@file"].used_by == ["a@file", "b@file"]
    placeholder = runtime.services["api@internal"]
    assert (placeholder.provider, placeholder.model, placeholder.status, placeholder.used_by) == (
        "internal",
        None,
        ENABLED,
        ["a@file"],
    )
    assert runtime.middlewares["x@internal"].used_by == ["a@file"]
    # A missing object of a provider has no record: the build reports it on its routers.
    assert "gone@file" not in runtime.services
    assert "gone@file" not in runtime.middlewares


def test_add_error_follows_traefik_add_error() -> None:
    info = Info("r@file", "file", Router())
    info.add_error("entrypoint missing", critical=False)
    assert (info.status, info.errors) == (WARNING, ["entrypoint missing"])
    info.add_error("entrypoint missing", critical=False)
    assert info.errors == ["entrypoint missing"]  # the same error is kept once
    info.add_error("bad rule", critical=True)
    assert info.status == DISABLED
    info.add_error("another warning", critical=False)
    assert info.status == DISABLED  # never back from disabled to warning
    assert info.errors == ["entrypoint missing", "bad rule", "another warning"]


def test_tcp_and_udp_objects_are_merged_with_their_models_and_defaults() -> None:
    config = _config(
        {
            "tcp": {
                "routers": {"db": {"rule": "HostSNI(`*`)", "service": "db", "middlewares": ["only"]}},
                "services": {"db": {"loadBalancer": {"servers": [{"address": "127.0.0.1:5432"}]}}},
                "middlewares": {"only": {"ipAllowList": {"sourceRange": ["10.0.0.0/8"]}}},
            },
            "udp": {
                "routers": {"dns": {"service": "dns"}},
                "services": {"dns": {"loadBalancer": {"servers": [{"address": "127.0.0.1:53"}]}}},
            },
        }
    )

    runtime = merge({"file": config}, entry_point_defaults=["web"], udp_entry_point_defaults=["dns"])

    for info in (runtime.tcp_routers["db@file"], runtime.tcp_services["db@file"], runtime.tcp_middlewares["only@file"]):
        assert (info.status, info.errors) == ("enabled", [])
    assert runtime.tcp_routers["db@file"].priority == -1  # Traefik: HostSNI(`*`) alone is tried last
    assert runtime.tcp_routers["db@file"].entry_points == ("web",)
    assert runtime.udp_routers["dns@file"].entry_points == ("dns",)
    assert runtime.tcp_services["db@file"].used_by == ["db@file"]
    assert runtime.tcp_middlewares["only@file"].used_by == ["db@file"]
    assert runtime.udp_services["dns@file"].used_by == ["dns@file"]
    assert runtime.tcp_services["db@file"].model.load_balancer is not None


def test_server_urls_are_those_of_every_load_balancer() -> None:
    config = _config({"http": {"services": {"lb": LB, "w": {"weighted": {"services": [{"name": "lb"}]}}}}})
    assert merge({"file": config}).server_urls() == {"lb@file": ["http://127.0.0.1:9", "http://127.0.0.1:10"]}


def test_servers_transports_are_qualified() -> None:
    config = _config({"http": {"serversTransports": {"st": {"maxIdleConnsPerHost": 3}}}})
    runtime = merge({"file": config})
    assert runtime.servers_transports["st@file"].max_idle_conns_per_host == 3


def _shape(runtime: RuntimeConfig) -> dict[str, Any]:
    """Every record of ``runtime`` as plain values (the records compare by identity)."""

    def plain(value: Any) -> Any:
        if is_dataclass(value):
            return {f.name: getattr(value, f.name) for f in fields(value)}
        return value

    return {f.name: {k: plain(v) for k, v in getattr(runtime, f.name).items()} for f in fields(runtime)}


def test_a_merge_in_slices_is_the_merge_at_once() -> None:
    routers = {f"r{i}": {"rule": f"Host(`h{i}.test`)", "service": f"s{i % 150}"} for i in range(300)}
    services = {f"s{i}": LB for i in range(150)}
    file = _config({"http": {"routers": routers, "services": services}})
    other = _config({"http": {"routers": {"x": {"rule": "Path(`/x`)", "service": "s3@file"}}}})
    snapshots = {"file": file, "other": other}
    steps = merge_steps(snapshots, spent=lambda: True)  # every check point yields
    yields = 0
    while True:
        try:
            next(steps)
            yields += 1
        except StopIteration as done:
            in_slices = done.value
            break
    at_once = merge(snapshots)
    assert yields >= 300 // MERGE_CHECK_EVERY + 150 // MERGE_CHECK_EVERY
    assert _shape(in_slices) == _shape(at_once)
    assert in_slices.services["s3@file"].used_by == ["r3@file", "r153@file", "x@other"]
