"""Docker labels → dynamic configuration, fed with the engine's own JSON (captured from dockerd 20.10 into
tests/data/docker/) and with variations of it."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hanzo_edge.config.dynamic import Server
from hanzo_edge.config.errors import ConfigError
from hanzo_edge.config.gotemplate import parse_template
from hanzo_edge.config.tcp import TCPServer
from hanzo_edge.providers.docker.build import (
    BuildOptions,
    ContainerData,
    build_configuration,
    parse_container,
)
from hanzo_edge.providers.docker.constraints import compile_constraints
from hanzo_edge.providers.docker.labels import decode_labels
from hanzo_edge.rules.goregexp import compile_go_regexp

DATA = Path(__file__).resolve().parents[2] / "data" / "docker"


def _inspect(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DATA / f"inspect_{name}.json").read_text())
    return loaded


def _go_regexp_engine() -> Callable[[str], Callable[[str], bool]]:
    """What the application lends providers (app.py's ProviderHooks.compile_regexp): RE2 with Go's syntax."""
    return lambda pattern: compile_go_regexp(pattern).is_match


def _container(name: str, labels: dict[str, str] | None = None, **changes: Any) -> ContainerData:
    raw = copy.deepcopy(_inspect(name))
    if labels is not None:
        raw["Config"]["Labels"] = labels
    for key, value in changes.items():
        raw[key] = value
    return parse_container(raw)


def _options(**kwargs: Any) -> BuildOptions:
    rule = kwargs.pop("default_rule", "Host(`{{ normalize .Name }}`)")
    return BuildOptions(default_rule=parse_template(rule, "defaultRule"), **kwargs)


GO_REGEXP = _go_regexp_engine()
HOST_PORT = {"traefik.http.services.web1.loadbalancer.server.port": "18081"}


def test_the_engines_json_is_read_as_traefik_reads_it() -> None:
    web = parse_container(_inspect("web1"))
    assert (web.name, web.state, web.health, web.network_mode) == ("/web1", "running", "", "host")
    assert web.labels == HOST_PORT
    app = parse_container(_inspect("app_web_1"))
    assert app.networks == {"appnet": "172.17.0.2"}
    assert sorted(app.ports) == ["80/tcp", "8080/tcp"]
    assert app.service_name == "web-app"  # <compose service>_<project>, normalized
    assert parse_container(_inspect("unhealthy")).health == "unhealthy"
    assert parse_container(_inspect("paused")).state == "paused"


def test_host_networking_gives_loopback_and_the_label_port_and_a_default_router() -> None:
    result = build_configuration([_container("web1")], _options())
    assert result.errors == []
    http = result.config.http
    assert http.services["web1"].load_balancer is not None
    assert http.services["web1"].load_balancer.servers == (Server(url="http://127.0.0.1:18081"),)
    assert http.routers["web1"].rule == "Host(`web1`)"
    assert http.routers["web1"].service == "web1"


def test_a_named_network_gives_the_address_on_it_and_the_lowest_exposed_port() -> None:
    result = build_configuration([_container("app_web_1")], _options())
    lb = result.config.http.services["web-app"].load_balancer
    assert lb is not None
    assert lb.servers == (Server(url="http://172.17.0.2:80"),)
    assert result.config.http.routers["web-app"].rule == "Host(`web-app`)"


def test_network_label_and_option_choose_among_networks() -> None:
    settings = copy.deepcopy(_inspect("app_web_1")["NetworkSettings"])
    settings["Networks"]["backend"] = dict(settings["Networks"]["appnet"], IPAddress="10.9.0.7")
    labels = {"traefik.docker.network": "backend", "traefik.http.services.s.loadbalancer.server.port": "8080"}
    chosen = build_configuration([_container("app_web_1", labels, NetworkSettings=settings)], _options())
    lb = chosen.config.http.services["s"].load_balancer
    assert lb is not None
    assert lb.servers[0].url == "http://10.9.0.7:8080"
    by_option = build_configuration(
        [_container("app_web_1", {}, NetworkSettings=settings)], _options(network="backend")
    )
    lb = by_option.config.http.services["app-web-1"].load_balancer
    assert lb is not None
    assert lb.servers[0].url == "http://10.9.0.7:80"


def test_use_bind_port_ip_takes_the_published_binding() -> None:
    settings = copy.deepcopy(_inspect("app_web_1")["NetworkSettings"])
    settings["Ports"]["80/tcp"] = [{"HostIp": "127.0.0.5", "HostPort": "32768"}]
    built = build_configuration(
        [_container("app_web_1", {}, NetworkSettings=settings)], _options(use_bind_port_ip=True)
    )
    lb = built.config.http.services["app-web-1"].load_balancer
    assert lb is not None
    assert lb.servers[0].url == "http://127.0.0.5:32768"
    settings["Ports"]["80/tcp"] = [{"HostIp": "0.0.0.0", "HostPort": "32768"}]  # no usable IP: the container's own
    built = build_configuration(
        [_container("app_web_1", {}, NetworkSettings=settings)], _options(use_bind_port_ip=True)
    )
    lb = built.config.http.services["app-web-1"].load_balancer
    assert lb is not None
    assert lb.servers[0].url == "http://172.17.0.2:80"


def test_labels_make_routers_services_and_middlewares_generically() -> None:
    labels = {
        "traefik.http.routers.api.rule": "Host(`api.test`) && PathPrefix(`/v1`)",
        "traefik.http.routers.api.entrypoints": "web,websecure",
        "traefik.http.routers.api.middlewares": "strip",
        "traefik.http.routers.api.priority": "42",
        "traefik.http.routers.api.tls": "true",
        "traefik.http.routers.api.tls.certresolver": "le",
        "traefik.http.routers.api.tls.domains[0].main": "api.test",
        "traefik.http.routers.api.tls.domains[0].sans": "a.api.test,b.api.test",
        "traefik.HTTP.Services.apisvc.LoadBalancer.server.port": "8080",
        "traefik.http.services.apisvc.loadbalancer.server.scheme": "h2c",
        "traefik.http.services.apisvc.loadbalancer.passhostheader": "false",
        "traefik.http.middlewares.strip.stripprefix.prefixes": "/v1,/v2",
        "traefik.http.middlewares.hdr.headers.customrequestheaders.X-Env": "test",
    }
    http = build_configuration([_container("app_web_1", labels)], _options()).config.http
    router = http.routers["api"]
    assert router.rule.startswith("Host(`api.test`)")
    assert router.service == "apisvc"
    assert router.entry_points == ("web", "websecure")
    assert router.middlewares == ("strip",)
    assert router.priority == 42
    assert router.tls is not None
    assert router.tls.cert_resolver == "le"
    assert router.tls.domains[0].main == "api.test"
    assert router.tls.domains[0].sans == ("a.api.test", "b.api.test")
    lb = http.services["apisvc"].load_balancer
    assert lb is not None
    assert lb.servers == (Server(url="h2c://172.17.0.2:8080"),)
    assert lb.pass_host_header is False
    assert http.middlewares["strip"].strip_prefix is not None
    assert http.middlewares["strip"].strip_prefix.prefixes == ("/v1", "/v2")
    assert http.middlewares["hdr"].headers is not None
    assert dict(http.middlewares["hdr"].headers.custom_request_headers) == {"X-Env": "test"}


def test_a_url_label_replaces_the_container_address_and_refuses_port_or_scheme() -> None:
    labels = {"traefik.http.services.s.loadbalancer.server.url": "http://10.1.2.3:9000"}
    lb = build_configuration([_container("web1", labels)], _options()).config.http.services["s"].load_balancer
    assert lb is not None
    assert lb.servers == (Server(url="http://10.1.2.3:9000"),)
    labels["traefik.http.services.s.loadbalancer.server.port"] = "80"
    result = build_configuration([_container("web1", labels)], _options())
    assert result.config.http.routers == {}
    assert result.errors
    assert "defining scheme or port is not allowed when URL is defined" in result.errors[0]


def test_no_port_anywhere_skips_the_container_with_traefiks_error() -> None:
    result = build_configuration([_container("web1", {})], _options())
    assert result.config.http.services == {}
    assert result.config.http.routers == {}
    assert result.errors == ["container web1 skipped: port is missing"]


def test_exposed_by_default_and_traefik_enable() -> None:
    off = _options(exposed_by_default=False)
    assert build_configuration([_container("web1")], off).config.http.routers == {}
    enabled = {**HOST_PORT, "traefik.enable": "true"}
    assert "web1" in build_configuration([_container("web1", enabled)], off).config.http.routers
    disabled = {**HOST_PORT, "traefik.enable": "false"}
    assert build_configuration([_container("web1", disabled)], _options()).config.http.routers == {}


def test_not_running_and_not_healthy_containers_get_no_traffic() -> None:
    for name in ("paused", "unhealthy"):
        assert build_configuration([_container(name)], _options()).config.http.routers == {}, name
    starting = copy.deepcopy(_inspect("unhealthy"))
    starting["State"]["Health"]["Status"] = "starting"
    assert build_configuration([parse_container(starting)], _options()).config.http.routers == {}
    # allowEmptyServices keeps the unhealthy container's router and service, without servers (Traefik).
    kept = build_configuration([_container("unhealthy")], _options(allow_empty_services=True)).config.http
    lb = kept.services["u"].load_balancer
    assert lb is not None
    assert lb.servers == ()
    assert kept.routers["unhealthy"].service == "u"
    # traefik.docker.allownonrunning keeps a stopped container's router, without servers.
    labels = {**HOST_PORT, "traefik.docker.allownonrunning": "true"}
    paused = build_configuration([_container("paused", labels)], _options()).config.http
    lb = paused.services["web1"].load_balancer
    assert lb is not None
    assert lb.servers == ()


def test_default_rule_templates_see_name_container_name_and_labels() -> None:
    rule = 'Host(`{{ .ContainerName }}.{{ index .Labels "domain" | default "local" }}`) || Host(`{{ .Name }}`)'
    labels = {**HOST_PORT, "domain": "example.com"}
    routers = build_configuration([_container("web1", labels)], _options(default_rule=rule)).config.http.routers
    assert routers["web1"].rule == "Host(`web1.example.com`) || Host(`web1`)"
    routers = build_configuration([_container("web1")], _options(default_rule=rule)).config.http.routers
    assert routers["web1"].rule == "Host(`web1.local`) || Host(`web1`)"
    empty = build_configuration([_container("web1")], _options(default_rule="{{ if false }}x{{ end }}"))
    assert empty.config.http.routers == {}
    assert "undefined rule" in empty.errors[0]


def test_bad_labels_skip_only_that_container_and_name_it_and_the_label() -> None:
    bad = {**HOST_PORT, "traefik.http.routers.r.priority": "high"}
    result = build_configuration([_container("app_web_1", bad), _container("web1")], _options())
    assert list(result.config.http.routers) == ["web1"]
    assert result.errors == [
        'container app_web_1 skipped: container /app_web_1: traefik.http.routers.r.priority: invalid integer "high"'
    ]
    contradictory = {**HOST_PORT, "traefik.http.routers.r.tls": "false", "traefik.http.routers.r.tls.options": "x"}
    result = build_configuration([_container("web1", contradictory)], _options())
    assert result.config.http.routers == {}
    assert "traefik.http.routers.r.tls.options: has both a value and sub-options" in result.errors[0]
    not_bool = {**HOST_PORT, "traefik.enable": "maybe"}
    result = build_configuration([_container("web1", not_bool)], _options())
    assert result.errors == ["container web1 skipped: container /web1: traefik.enable: invalid boolean 'maybe'"]


def test_two_services_without_a_router_service_drop_the_router() -> None:
    labels = {
        "traefik.http.services.a.loadbalancer.server.port": "1",
        "traefik.http.services.b.loadbalancer.server.port": "2",
    }
    result = build_configuration([_container("web1", labels)], _options())
    assert result.config.http.routers == {}  # "too many services": no default router
    assert sorted(result.config.http.services) == ["a", "b"]


def test_scaled_containers_merge_servers_and_conflicts_drop_the_object() -> None:
    one = _container("app_web_1")
    settings = copy.deepcopy(_inspect("app_web_1")["NetworkSettings"])
    settings["Networks"]["appnet"]["IPAddress"] = "172.17.0.3"
    two = _container("app_web_1", dict(one.labels), NetworkSettings=settings, Id="f" * 64, Name="/app_web_2")
    http = build_configuration([one, two], _options()).config.http
    lb = http.services["web-app"].load_balancer
    assert lb is not None
    assert [s.url for s in lb.servers] == ["http://172.17.0.2:80", "http://172.17.0.3:80"]
    assert list(http.routers) == ["web-app"]
    labels_a = {**HOST_PORT, "traefik.http.routers.shared.rule": "Host(`a`)"}
    labels_b = {**HOST_PORT, "traefik.http.routers.shared.rule": "Host(`b`)"}
    other = _container("app_web_1", labels_b, Id="e" * 64, Name="/other")
    result = build_configuration([_container("web1", labels_a), other], _options())
    assert "shared" not in result.config.http.routers
    assert any("router 'shared' defined multiple times with different configurations" in e for e in result.errors)


def test_tcp_and_udp_labels() -> None:
    labels = {
        "traefik.tcp.routers.db.rule": "HostSNI(`*`)",
        "traefik.tcp.routers.db.entrypoints": "pg",
        "traefik.tcp.services.db.loadbalancer.server.port": "5432",
        "traefik.udp.routers.dns.entrypoints": "dns",
        "traefik.udp.services.dns.loadbalancer.server.port": "53",
    }
    config = build_configuration([_container("web1", labels)], _options()).config
    assert config.http.routers == {}  # TCP/UDP only: no HTTP router
    assert config.tcp is not None
    assert config.tcp.routers["db"].service == "db"
    tcp_lb = config.tcp.services["db"].load_balancer
    assert tcp_lb is not None
    assert tcp_lb.servers == (TCPServer(address="127.0.0.1:5432"),)
    assert config.udp is not None
    assert config.udp.routers["dns"].service == "dns"
    udp_lb = config.udp.services["dns"].load_balancer
    assert udp_lb is not None
    assert udp_lb.servers[0].address == "127.0.0.1:53"


def test_unknown_label_options_are_warnings_that_name_the_label() -> None:
    decoded = decode_labels({"traefik.http.routers.r.colour": "blue"}, "/c")
    assert [str(w) for w in decoded.warnings] == [
        "container /c: traefik.http.routers.r.colour: unknown option (ignored)"
    ]


@pytest.mark.parametrize(
    ("expression", "labels", "expected"),
    [
        ("Label(`team`, `a`)", {"team": "a"}, True),
        ("Label(`team`, `a`)", {"team": "b"}, False),
        ("Label(`team`, `a`)", {}, False),
        ("!Label(`team`, `a`)", {}, True),
        ("LabelRegex(`env`, `^prod`)", {"env": "production"}, True),
        ("LabelRegex(`env`, `dev`)", {"env": "my-dev-box"}, True),  # unanchored, as Go's MatchString
        ("Label(`a`, `1`) && (Label(`b`, `2`) || Label(`c`, `3`))", {"a": "1", "c": "3"}, True),
        ("Label(`a`, `1`) && (Label(`b`, `2`) || Label(`c`, `3`))", {"a": "1"}, False),
        ('Label("a.b", "x\\ty")', {"a.b": "x\ty"}, True),  # Go "..." literals with escapes
        ("!!Label(`a`,`1`) || Label(`a`,`2`) && Label(`b`,`3`)", {"a": "1"}, True),  # && binds tighter
        ("(Label(`a`,`1`) || Label(`a`,`2`)) && Label(`b`,`3`)", {"a": "1"}, False),
    ],
)
def test_constraints(expression: str, labels: dict[str, str], expected: bool) -> None:
    assert compile_constraints(expression, GO_REGEXP)(labels) is expected


@pytest.mark.parametrize(
    "bad",
    [
        "Label(`a`)",
        "Host(`x`)",
        "label(`a`, `b`)",
        "LabelRegex(`a`, `(`)",
        "Label(`a`, `b`) &&",
        "Label(`a`, b)",
        "(Label(`a`, `b`)",
        "Label(`a`, `b`) Label(`c`, `d`)",
        "Label(`a`, `b`) & Label(`c`, `d`)",
        "(" * 200 + "Label(`a`, `b`)" + ")" * 200,
    ],
)
def test_bad_constraints_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="constraints"):
        compile_constraints(bad, GO_REGEXP)


def test_label_regex_needs_the_lent_regexp_engine() -> None:
    with pytest.raises(ValueError, match="LabelRegex: no regexp engine"):
        compile_constraints("LabelRegex(`a`, `b`)")
    assert compile_constraints("Label(`a`, `b`)")({"a": "b"})  # Label alone needs none


def test_constraints_filter_containers() -> None:
    keep = _options(constraints=compile_constraints("Label(`team`, `edge`)"))
    assert build_configuration([_container("web1")], keep).config.http.routers == {}
    labels = {**HOST_PORT, "team": "edge"}
    assert "web1" in build_configuration([_container("web1", labels)], keep).config.http.routers


def test_bad_static_options_are_config_errors() -> None:
    from hanzo_edge.config.loader import load_static
    from hanzo_edge.providers.base import ProviderHooks
    from hanzo_edge.providers.docker import from_static

    # defaultRule is checked when the static configuration loads (so `ingress check` reports it too).
    message = 'defaultRule: template: defaultRule:1: function "nope" not defined'
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        load_static(["--entrypoints.web.address=:1", "--providers.docker.defaultrule={{ nope }}"], env={})
    assert caught.value.path == "--providers.docker"
    for flag, option in (
        ("--providers.docker.constraints=Label(`a`)", "providers.docker.constraints"),
        ("--providers.docker.endpoint=ssh://host", "providers.docker.endpoint"),
    ):
        static = load_static(["--entrypoints.web.address=:1", flag], env={})
        with pytest.raises(ConfigError) as refused:
            from_static(static, ProviderHooks())
        assert refused.value.path == option


def test_a_container_sharing_another_ones_network_uses_that_address() -> None:
    target = _container("app_web_1")
    sidecar = _container("web1", {"traefik.http.services.side.loadbalancer.server.port": "9000"})
    linked = dataclasses.replace(sidecar, network_mode="container:" + target.id, networks={}, connected=target)
    lb = build_configuration([linked], _options()).config.http.services["side"].load_balancer
    assert lb is not None
    assert lb.servers[0].url == "http://172.17.0.2:9000"
    unresolved = dataclasses.replace(linked, connected=None)
    result = build_configuration([unresolved], _options())
    assert result.errors == [
        "container web1 skipped: unable to find the IP address for the container '/web1': the server is ignored"
    ]


def test_tls_options_and_servers_transports_from_labels_are_kept() -> None:
    labels = {
        **HOST_PORT,
        "traefik.tls.options.modern.minversion": "VersionTLS13",
        "traefik.http.serverstransports.slow.forwardingtimeouts.dialtimeout": "3s",
        "traefik.http.services.web1.loadbalancer.serverstransport": "slow",
    }
    config = build_configuration([_container("web1", labels)], _options()).config
    assert config.tls is not None
    assert config.tls.options["modern"].min_version == "VersionTLS13"
    assert config.http.servers_transports["slow"].forwarding_timeouts.dial_timeout == 3.0
    lb = config.http.services["web1"].load_balancer
    assert lb is not None
    assert lb.servers_transport == "slow"


def test_a_tcp_router_without_service_among_several_is_dropped_with_a_warning() -> None:
    # Traefik logs "Router ... cannot be linked automatically with multiple Services"; dropping it silently would
    # leave the user with no trace of why the route is missing.
    labels = {
        "traefik.tcp.routers.db.rule": "HostSNI(`*`)",
        "traefik.tcp.services.a.loadbalancer.server.port": "5432",
        "traefik.tcp.services.b.loadbalancer.server.port": "5433",
    }
    result = build_configuration([_container("web1", labels)], _options())
    assert result.config.tcp is not None
    assert dict(result.config.tcp.routers) == {}
    assert [w for w in result.warnings if "'db'" in w and "too many services" in w and "web1" in w]


def test_a_network_the_container_is_not_on_falls_back_with_a_warning() -> None:
    # Traefik: "Could not find network named ... Maybe you're missing the project's prefix in the label?", then the
    # first network. The fallback must be visible: the address may be unreachable from the proxy.
    labels = {**_container("app_web_1").labels, "traefik.docker.network": "web"}
    result = build_configuration([_container("app_web_1", labels)], _options())
    lb = result.config.http.services["web-app"].load_balancer
    assert lb is not None
    assert [s.url for s in lb.servers] == ["http://172.17.0.2:80"]
    assert [w for w in result.warnings if '"web"' in w and "app_web_1" in w and "appnet" in w]
