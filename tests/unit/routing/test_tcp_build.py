"""The TCP/UDP build (``routing/tcp_build.py``) and the order of ``TCPTable`` (Traefik's ``ServeTCP``), from real
dynamic configurations through ``build_tables``."""

from __future__ import annotations

from typing import Any

from hanzo_edge.config.dynamic import decode_dynamic
from hanzo_edge.http.pool import PoolRegistry, TransportOptions
from hanzo_edge.routing.build import BuildResult, build_tables
from hanzo_edge.services.tcp_balancer import TCPServerTarget

LB = {"loadBalancer": {"servers": [{"address": "127.0.0.1:7000"}]}}


def build(data: dict[str, Any], eps: tuple[str, ...] = ("web",), udp: tuple[str, ...] = ()) -> BuildResult:
    config, warnings = decode_dynamic(data)
    assert not warnings
    return build_tables({"file": config}, [*eps], [*eps], PoolRegistry(), TransportOptions(), udp_entry_points=[*udp])


def tcp_routers(result: BuildResult) -> dict[str, tuple[str, list[str], list[str]]]:
    return {name: (i.status, i.errors, i.using) for name, i in result.runtime.tcp_routers.items()}


def test_router_errors_disable_only_the_broken_router() -> None:
    result = build(
        {
            "tcp": {
                "routers": {
                    "ok": {"rule": "HostSNI(`*`)", "service": "s"},
                    "sni-no-tls": {"rule": "HostSNI(`a.test`)", "service": "s"},
                    "no-rule": {"service": "s"},
                    "no-service": {"rule": "HostSNI(`*`)"},
                    "missing": {"rule": "HostSNI(`*`)", "service": "nope"},
                    "bad-rule": {"rule": "HostSNI(`a`", "service": "s"},
                    "bad-options": {"rule": "HostSNI(`b.test`)", "service": "s", "tls": {"options": "nope"}},
                    "half": {"rule": "HostSNI(`*`)", "service": "s", "entryPoints": ["web", "other"]},
                    "bad-mw": {"rule": "HostSNI(`*`)", "service": "s", "middlewares": ["ghost"]},
                },
                "services": {"s": LB},
            }
        }
    )
    routers = tcp_routers(result)
    assert routers["ok@file"] == ("enabled", [], ["web"])
    assert routers["sni-no-tls@file"] == (
        "disabled",
        ['invalid rule: "HostSNI(`a.test`)" , has HostSNI matcher, but no TLS on router'],
        [],
    )
    assert routers["no-rule@file"][:2] == ("disabled", ["router has no rule"])
    assert routers["no-service@file"][:2] == ("disabled", ["the service is missing on the router"])
    assert routers["missing@file"][:2] == ("disabled", ['the service "nope@file" does not exist'])
    assert routers["bad-rule@file"][0] == "disabled"
    assert routers["bad-options@file"][:2] == ("disabled", ["unknown TLS options: nope@file"])
    assert routers["half@file"] == ("warning", ['entryPoint "other" doesn\'t exist'], ["web"])
    assert routers["bad-mw@file"][:2] == ("disabled", ['middleware "ghost@file" does not exist'])
    table = result.layer4.tcp_tables["web"]
    assert [route.name for route in table.plain] == ["half@file", "ok@file"]  # equal priorities: by name


def test_service_errors_are_recorded_on_the_service() -> None:
    result = build(
        {
            "tcp": {
                "routers": {
                    "a": {"rule": "HostSNI(`*`)", "service": "bad-address"},
                    "b": {"rule": "HostSNI(`*`)", "service": "cycle"},
                    "c": {"rule": "HostSNI(`*`)", "service": "no-transport"},
                    "d": {"rule": "HostSNI(`*`)", "service": "pp3"},
                },
                "services": {
                    "bad-address": {"loadBalancer": {"servers": [{"address": "no-port"}]}},
                    "cycle": {"weighted": {"services": [{"name": "cycle2"}]}},
                    "cycle2": {"weighted": {"services": [{"name": "cycle"}]}},
                    "no-transport": {"loadBalancer": {"servers": [{"address": "h:1"}], "serversTransport": "t"}},
                    "pp3": {"loadBalancer": {"servers": [{"address": "h:1"}], "proxyProtocol": {"version": 3}}},
                },
            }
        }
    )
    services = {name: (i.status, i.errors) for name, i in result.runtime.tcp_services.items()}
    assert services["bad-address@file"] == (
        "disabled",
        ["invalid server address 'no-port' (expected host:port)"],
    )
    assert services["cycle@file"][0] == "disabled"
    assert services["no-transport@file"] == ("disabled", ['no transport configuration found for "t@file"'])
    assert services["pp3@file"] == ("disabled", ["unknown proxyProtocol version: 3"])
    assert all(status == "disabled" for status, _, _ in tcp_routers(result).values())


def test_transport_settings_reach_the_server_target() -> None:
    result = build(
        {
            "tcp": {
                "routers": {"r": {"rule": "HostSNI(`*`)", "service": "s"}},
                "services": {
                    "s": {"loadBalancer": {"servers": [{"address": "[::1]:9000"}], "serversTransport": "t"}},
                    "old": {"loadBalancer": {"servers": [{"address": "h:1"}], "terminationDelay": 250}},
                },
                "serversTransports": {
                    "t": {"dialTimeout": "2s", "dialKeepAlive": "-1s", "terminationDelay": "-1s", "proxyProtocol": {}}
                },
            }
        }
    )
    route = result.layer4.tcp_tables["web"].plain[0]
    target = route.pick()
    assert isinstance(target, TCPServerTarget)
    assert (target.host, target.port, target.dial_timeout, target.dial_keep_alive) == ("::1", 9000, 2.0, -1.0)
    assert (target.termination_delay, target.proxy_protocol) == (-1.0, 2)  # an empty proxyProtocol means v2


def test_weighted_service_picks_by_weight() -> None:
    result = build(
        {
            "tcp": {
                "routers": {"r": {"rule": "HostSNI(`*`)", "service": "w"}},
                "services": {
                    "w": {"weighted": {"services": [{"name": "a", "weight": 3}, {"name": "b", "weight": 1}]}},
                    "a": {"loadBalancer": {"servers": [{"address": "a:1"}]}},
                    "b": {"loadBalancer": {"servers": [{"address": "b:1"}]}},
                },
            }
        }
    )
    route = result.layer4.tcp_tables["web"].plain[0]
    picks = [route.pick() for _ in range(8)]
    hosts = [p.host for p in picks if p is not None]
    assert hosts.count("a") == 6
    assert hosts.count("b") == 2


def test_traefik_order_between_tls_tcp_routers_and_https_routers() -> None:
    result = build(
        {
            "http": {
                "routers": {
                    "site": {"rule": "Host(`web.test`)", "service": "h", "tls": {}},
                },
                "services": {"h": {"loadBalancer": {"servers": [{"url": "http://127.0.0.1:1"}]}}},
            },
            "tcp": {
                "routers": {
                    "db": {"rule": "HostSNI(`db.test`)", "service": "s", "tls": {"passthrough": True}},
                    "web-too": {"rule": "HostSNI(`web.test`)", "service": "s", "tls": {}, "priority": 1000},
                    "any": {"rule": "HostSNI(`*`)", "service": "s", "tls": {}},
                    "plain": {"rule": "HostSNI(`*`)", "service": "s"},
                },
                "services": {"s": LB},
            },
        }
    )
    table = result.layer4.tcp_tables["web"]
    db = table.match_tls("db.test", (), "10.0.0.1")
    assert db is not None
    assert db.name == "db@file"
    assert db.passthrough
    # An HTTPS router naming the server wins over any TCP router, whatever its priority.
    assert table.match_tls("web.test", (), "10.0.0.1") is None
    other = table.match_tls("other.test", (), "10.0.0.1")
    assert other is not None
    assert other.name == "any@file"
    assert table.early("10.0.0.1") is None  # TLS routers here: wait for the first byte
    plain = table.match_plain("10.0.0.1")
    assert plain is not None
    assert plain.name == "plain@file"


def test_https_catch_all_beats_the_tls_tcp_catch_all() -> None:
    result = build(
        {
            "http": {
                "routers": {"site": {"rule": "PathPrefix(`/`)", "service": "h", "tls": {}}},
                "services": {"h": {"loadBalancer": {"servers": [{"url": "http://127.0.0.1:1"}]}}},
            },
            "tcp": {
                "routers": {
                    "any": {"rule": "HostSNI(`*`)", "service": "s", "tls": {}},
                    "db": {"rule": "HostSNI(`db.test`)", "service": "s", "tls": {}},
                },
                "services": {"s": LB},
            },
        }
    )
    table = result.layer4.tcp_tables["web"]
    assert table.match_tls("x.test", (), "10.0.0.1") is None  # the HTTPS router without a host
    found = table.match_tls("db.test", (), "10.0.0.1")
    assert found is not None
    assert found.name == "db@file"


def test_only_plain_tcp_routers_match_before_the_first_byte() -> None:
    result = build(
        {
            "tcp": {
                "routers": {"lan": {"rule": "ClientIP(`10.0.0.0/8`)", "service": "s"}},
                "services": {"s": LB},
            }
        }
    )
    table = result.layer4.tcp_tables["web"]
    found = table.early("10.1.1.1")
    assert found is not None
    assert found.name == "lan@file"
    assert table.early("192.168.0.1") is None  # no match: on to the first byte (then HTTP)


def test_udp_routers_one_per_entrypoint_and_udp_defaults() -> None:
    result = build(
        {
            "udp": {
                "routers": {
                    "a": {"service": "s"},
                    "b": {"service": "s", "entryPoints": ["dns"]},
                    "wrong": {"service": "s", "entryPoints": ["web"]},
                    "broken": {"service": "nope"},
                },
                "services": {"s": {"loadBalancer": {"servers": [{"address": "127.0.0.1:53"}]}}},
            }
        },
        eps=("web",),
        udp=("dns",),
    )
    routers = {name: (i.status, i.errors, i.using) for name, i in result.runtime.udp_routers.items()}
    assert routers["a@file"] == ("enabled", [], ["dns"])  # no entryPoints: every UDP entrypoint
    assert routers["b@file"][0] == "disabled"
    assert routers["b@file"][2] == []
    assert "one UDP router per entryPoint serves" in routers["b@file"][1][0]
    assert routers["wrong@file"] == ("disabled", ['entryPoint "web" is not a UDP entryPoint'], [])
    assert routers["broken@file"] == ("disabled", ['the service "nope@file" does not exist'], [])
    assert set(result.layer4.udp) == {"dns"}


def test_an_unchanged_in_flight_conn_keeps_its_counters_across_generations() -> None:
    def data(amount: int) -> dict[str, Any]:
        return {
            "tcp": {
                "routers": {"r": {"rule": "HostSNI(`*`)", "service": "s", "middlewares": ["one"]}},
                "services": {"s": LB},
                "middlewares": {"one": {"inFlightConn": {"amount": amount}}},
            }
        }

    def generation(amount: int, previous: BuildResult | None) -> BuildResult:
        config, _ = decode_dynamic(data(amount))
        return build_tables({"file": config}, ["web"], ["web"], PoolRegistry(), TransportOptions(), previous=previous)

    first = generation(1, None)
    route = first.layer4.tcp_tables["web"].plain[0]
    held = route.admit("10.0.0.1")
    assert held is not None  # one connection in flight
    second = generation(1, first)
    assert second.layer4.tcp_tables["web"].plain[0].admit("10.0.0.1") is None  # still counted: refused
    for release in held:
        release()
    assert second.layer4.tcp_tables["web"].plain[0].admit("10.0.0.1") is not None
    third = generation(2, second)  # changed: a new middleware, new counters
    assert third.layer4.admissions["one@file"][1] is not second.layer4.admissions["one@file"][1]


def test_a_server_a_health_check_took_out_stays_out_across_a_reload() -> None:
    # Before: every generation rebuilt the balancers with every server up, so an unrelated reload sent connections
    # to a dead server until the new checker's first probe failed (up to its timeout).
    def data(extra_router: bool) -> dict[str, Any]:
        routers: dict[str, Any] = {"r": {"rule": "HostSNI(`*`)", "service": "s"}}
        if extra_router:
            routers["other"] = {"rule": "ClientIP(`10.0.0.0/8`)", "service": "s"}
        servers = [{"address": "127.0.0.1:7000"}, {"address": "127.0.0.1:7001"}]
        return {
            "tcp": {
                "routers": routers,
                "services": {"s": {"loadBalancer": {"servers": servers, "healthCheck": {"interval": "10s"}}}},
            }
        }

    def generation(extra_router: bool, previous: BuildResult | None) -> BuildResult:
        config, _ = decode_dynamic(data(extra_router))
        return build_tables({"file": config}, ["web"], ["web"], PoolRegistry(), TransportOptions(), previous=previous)

    first = generation(False, None)
    first.layer4.tcp_services["s@file"].set_status("127.0.0.1:7001", False)  # what the checker reported
    second = generation(True, first)
    balancer = second.layer4.tcp_services["s@file"]
    assert balancer.status("127.0.0.1:7001") is False
    assert balancer.status("127.0.0.1:7000") is True
    picked = {getattr(balancer.pick(), "address", None) for _ in range(4)}
    assert picked == {"127.0.0.1:7000"}


def test_health_check_durations_that_are_not_positive_take_traefiks_defaults() -> None:
    # Traefik (healthcheck_tcp.go): interval <= 0 -> 30s, unhealthyInterval <= 0 -> 30s, timeout <= 0 -> 5s. Before,
    # "0s" probed every 10 ms and a zero timeout let a server that never answers hang the checker for ever.
    check = {"interval": "0s", "unhealthyInterval": "-1s", "timeout": "0s", "expect": "ok"}
    result = build(
        {
            "tcp": {
                "routers": {"r": {"rule": "HostSNI(`*`)", "service": "s"}},
                "services": {"s": {"loadBalancer": {"servers": [{"address": "127.0.0.1:7000"}], "healthCheck": check}}},
            }
        }
    )
    (checker,) = result.layer4.health_checks
    assert (checker.check.interval, checker.check.unhealthy_interval, checker.check.timeout) == (30.0, 30.0, 5.0)


def test_the_catch_all_gets_priority_minus_one_however_it_is_spelled() -> None:
    # Traefik's GetRulePriority reads the parsed rule: one HostSNI matcher (any case, any spacing) with "*" is -1.
    result = build(
        {
            "tcp": {
                "routers": {
                    "spaced": {"rule": "HostSNI( `*` )", "service": "s"},
                    "lower": {"rule": "hostsni(`*`)", "service": "s"},
                    "ip": {"rule": "ClientIP(`10.0.0.0/8`)", "service": "s"},
                },
                "services": {"s": LB},
            }
        }
    )
    priorities = {name: info.priority for name, info in result.runtime.tcp_routers.items()}
    assert priorities == {"spaced@file": -1, "lower@file": -1, "ip@file": len("ClientIP(`10.0.0.0/8`)")}
    assert [route.name for route in result.layer4.tcp_tables["web"].plain] == ["ip@file", "lower@file", "spaced@file"]


def test_a_udp_router_without_service_has_traefiks_udp_wording() -> None:
    # Traefik pkg/server/router/udp/router.go: "the service is missing on the udp router" (TCP and HTTP say "router").
    result = build({"udp": {"routers": {"r": {"entryPoints": ["dns"]}}}}, eps=("web",), udp=("dns",))
    info = result.runtime.udp_routers["r@file"]
    assert (info.status, info.errors) == ("disabled", ["the service is missing on the udp router"])
