from __future__ import annotations

from typing import Any

import pytest
import yaml

from hanzo_edge.config.dynamic import (
    Configuration,
    LoadBalancer,
    Router,
    Server,
    Service,
    decode_dynamic,
)
from hanzo_edge.config.errors import ConfigError
from hanzo_edge.config.middlewares import Headers, StripPrefix

REALISTIC = """
http:
  routers:
    api:
      rule: Host(`api.example.com`) && PathPrefix(`/v1`)
      entryPoints: [websecure]
      middlewares: [strip-v1, secure-headers@file, auth-chain]
      service: api-svc
      priority: 100
      tls:
        certResolver: le
        domains:
          - main: example.com
            sans: [api.example.com]
    web:
      rule: Host(`www.example.com`)
      service: web-canary
  services:
    api-svc:
      loadBalancer:
        servers:
          - url: http://10.0.0.1:8080
          - url: http://10.0.0.2:8080
            weight: 3
        passHostHeader: false
        healthCheck:
          path: /healthz
          interval: 10s
          timeout: 3
        sticky:
          cookie:
            name: sid
            httpOnly: true
        serversTransport: internal
    web-v1:
      loadBalancer:
        servers: [{url: "http://10.0.1.1"}]
    web-v2:
      loadBalancer:
        servers: [{url: "http://10.0.1.2"}]
    web-canary:
      weighted:
        services:
          - name: web-v1
            weight: 9
          - name: web-v2
        healthCheck: {}
  middlewares:
    strip-v1:
      stripPrefix:
        prefixes: [/v1]
    secure-headers:
      headers:
        frameDeny: true
        stsSeconds: 31536000
        customResponseHeaders:
          X-Powered-By: ""
    auth-chain:
      chain:
        middlewares: [basic, limit]
    basic:
      basicAuth:
        users: ["test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/"]
    limit:
      rateLimit:
        average: 100
        burst: 50
        period: 1m
  serversTransports:
    internal:
      serverName: internal.example.com
      insecureSkipVerify: true
      rootCAs: [/etc/ca.pem]
      forwardingTimeouts:
        dialTimeout: 5s
tls:
  certificates:
    - certFile: /certs/a.crt
      keyFile: /certs/a.key
"""


def _decode(text: str) -> tuple[Configuration, list[str]]:
    config, warnings = decode_dynamic(yaml.load(text, Loader=yaml.CSafeLoader))
    return config, [str(w) for w in warnings]


def test_realistic_traefik_file() -> None:
    config, warnings = _decode(REALISTIC)
    assert warnings == []
    api = config.http.routers["api"]
    assert api.entry_points == ("websecure",)
    assert api.middlewares == ("strip-v1", "secure-headers@file", "auth-chain")
    assert api.priority == 100
    assert api.tls is not None
    assert api.tls.cert_resolver == "le"
    assert api.tls.domains[0].sans == ("api.example.com",)
    assert config.http.routers["web"].tls is None

    lb = config.http.services["api-svc"].load_balancer
    assert lb is not None
    assert [s.url for s in lb.servers] == ["http://10.0.0.1:8080", "http://10.0.0.2:8080"]
    assert [s.weight for s in lb.servers] == [1, 3]
    assert lb.pass_host_header is False
    assert lb.strategy == "wrr"
    assert lb.response_forwarding.flush_interval == 0.1
    assert lb.health_check is not None
    assert (lb.health_check.interval, lb.health_check.timeout) == (10.0, 3.0)
    assert lb.sticky is not None
    assert lb.sticky.cookie is not None
    assert (lb.sticky.cookie.name, lb.sticky.cookie.http_only, lb.sticky.cookie.path) == ("sid", True, "/")
    assert config.http.services["api-svc"].kind == "loadBalancer"

    canary = config.http.services["web-canary"].weighted
    assert canary is not None
    assert [(s.name, s.weight) for s in canary.services] == [("web-v1", 9), ("web-v2", 1)]
    assert canary.health_check is not None

    middlewares = config.http.middlewares
    assert middlewares["strip-v1"].config == StripPrefix(prefixes=("/v1",))
    assert middlewares["secure-headers"].kind == "headers"
    headers = middlewares["secure-headers"].headers
    assert isinstance(headers, Headers)
    assert headers.frame_deny is True
    assert headers.custom_response_headers == {"X-Powered-By": ""}
    limit = middlewares["limit"].rate_limit
    assert limit is not None
    assert (limit.average, limit.burst, limit.period) == (100, 50, 60.0)

    transport = config.http.servers_transports["internal"]
    assert transport.root_cas == ("/etc/ca.pem",)
    assert transport.forwarding_timeouts.dial_timeout == 5.0
    assert transport.forwarding_timeouts.idle_conn_timeout == 90.0
    assert transport.max_idle_conns_per_host == 0
    assert config.tls is not None
    assert config.tls.certificates[0].cert_file == "/certs/a.crt"
    assert config.tls.certificates[0].stores == ()


def test_config_is_hashable_and_comparable() -> None:
    first, _ = _decode(REALISTIC)
    second, _ = _decode(REALISTIC)
    assert first == second
    assert hash(first) == hash(second)
    changed, _ = _decode(REALISTIC.replace("weight: 9", "weight: 8"))
    assert changed != first
    assert changed.http.routers == first.http.routers


def test_keys_are_case_insensitive() -> None:
    config, warnings = _decode(
        "HTTP:\n  Routers:\n    r:\n      RULE: Path(`/`)\n      Service: s\n"
        "  services:\n    s:\n      LOADBALANCER:\n        Servers: [{URL: 'http://a'}]\n"
    )
    assert warnings == []
    assert config.http.routers["r"] == Router(rule="Path(`/`)", service="s")
    assert config.http.services["s"] == Service(load_balancer=LoadBalancer(servers=(Server(url="http://a"),)))


@pytest.mark.parametrize(
    ("data", "warnings"),
    [
        pytest.param(
            {"http": {"routers": {"r": {"rule": "Path(`/`)", "servise": "s"}}}},
            ["http.routers.r.servise: unknown option (ignored)"],
            id="router typo",
        ),
        pytest.param(
            {"http": {"services": {"s": {"loadBalancer": {"servers": [{"url": "http://a", "wieght": 2}]}}}}},
            ["http.services.s.loadBalancer.servers[0].wieght: unknown option (ignored)"],
            id="nested list item",
        ),
        pytest.param({"htp": {}}, ["htp: unknown option (ignored)"], id="top level"),
        pytest.param(
            {"http": {"routers": {"a@file": {"rule": "Path(`/`)", "service": "s"}}}},
            ['http.routers.a@file: router names cannot contain "@"; router ignored'],
            id="router name with at sign",
        ),
    ],
)
def test_unknown_keys_are_warnings_with_paths(data: dict[str, Any], warnings: list[str]) -> None:
    config, found = decode_dynamic(data)
    assert [str(w) for w in found] == warnings
    assert "a@file" not in config.http.routers


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(
            {"http": {"services": {"app": {"loadBalancer": {"servers": [{"url": ["x"]}]}}}}},
            "http.services.app.loadBalancer.servers[0].url: expected string, got a list",
            id="wrong type in list item",
        ),
        pytest.param(
            {"http": {"services": {"app": {"loadBalancer": {"servers": [{"weight": 2}]}}}}},
            "http.services.app.loadBalancer.servers[0].url: missing required option",
            id="missing url",
        ),
        pytest.param(
            {"http": {"services": {"app": {}}}},
            "http.services.app: exactly one of loadBalancer, weighted, mirroring, failover, highestRandomWeight "
            "must be set, got none",
            id="service without kind",
        ),
        pytest.param(
            {"http": {"services": {"app": {"loadBalancer": {}, "weighted": {}}}}},
            "http.services.app: exactly one of loadBalancer, weighted, mirroring, failover, highestRandomWeight "
            "must be set, got loadBalancer and weighted",
            id="service with two kinds",
        ),
        pytest.param(
            {"http": {"middlewares": {"m": {"stripPrefix": {}, "addPrefix": {"prefix": "/a"}}}}},
            "got addPrefix and stripPrefix",
            id="middleware with two kinds",
        ),
        pytest.param(
            {"http": {"middlewares": {"m": {"stripPrefixx": {}}}}},
            "http.middlewares.m: exactly one of addPrefix",
            id="middleware with unknown kind only",
        ),
        pytest.param(
            {"http": {"routers": {"r": {"priority": "high"}}}},
            'http.routers.r.priority: invalid integer "high"',
            id="bad int",
        ),
        pytest.param(
            {"http": {"middlewares": {"m": {"rateLimit": {"period": "soon"}}}}},
            'http.middlewares.m.rateLimit.period: invalid duration "soon"',
            id="bad duration",
        ),
        pytest.param({"http": {"routers": ["r"]}}, "http.routers: expected a section, got a list", id="list for map"),
        pytest.param(["x"], "the dynamic configuration must be a mapping", id="top-level list"),
    ],
)
def test_type_errors_name_the_dotted_path(data: Any, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        decode_dynamic(data)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_source_is_the_location() -> None:
    with pytest.raises(ConfigError) as info:
        decode_dynamic({"http": {"routers": {"r": {"priority": "x"}}}}, source="dyn.toml")
    assert str(info.value) == 'dyn.toml: http.routers.r.priority: invalid integer "x"'
    assert info.value.path == "http.routers.r.priority"
    assert info.value.location == "dyn.toml"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(None, Configuration(), id="none"),
        pytest.param({}, Configuration(), id="empty mapping"),
        pytest.param({"http": None}, Configuration(), id="null http"),
        pytest.param({"http": {"routers": None}}, Configuration(), id="null routers"),
    ],
)
def test_empty_inputs(data: Any, expected: Configuration) -> None:
    config, warnings = decode_dynamic(data)
    assert config == expected
    assert config.is_empty()
    assert warnings == []


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        pytest.param(5, 5.0, id="int seconds"),
        pytest.param("5", 5.0, id="numeric string"),
        pytest.param("250ms", 0.25, id="go string"),
        pytest.param(-1, -1.0, id="negative"),
    ],
)
def test_durations_int_or_string(value: Any, seconds: float) -> None:
    data = {"http": {"services": {"s": {"loadBalancer": {"responseForwarding": {"flushInterval": value}}}}}}
    config, _ = decode_dynamic(data)
    lb = config.http.services["s"].load_balancer
    assert lb is not None
    assert lb.response_forwarding.flush_interval == seconds
