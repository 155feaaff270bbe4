"""Decode the documented Traefik v3 examples of every HTTP service kind into the typed models."""

from __future__ import annotations

import pytest
import yaml

from hanzo_edge.config import services as s
from hanzo_edge.config.dynamic import ServersTransport, decode_dynamic
from hanzo_edge.config.errors import ConfigError
from hanzo_edge.config.types import FrozenDict


def _service(snippet: str) -> s.Service:
    body = yaml.load(snippet, Loader=yaml.CSafeLoader)
    config, warnings = decode_dynamic({"http": {"services": {"svc": body}}})
    assert [str(w) for w in warnings] == []
    return config.http.services["svc"]


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        pytest.param(
            "loadBalancer:\n  servers:\n    - url: http://private-ip-server-1/\n      weight: 2\n"
            "    - url: http://private-ip-server-2/\n      preservePath: true\n  strategy: p2c",
            s.Service(
                load_balancer=s.LoadBalancer(
                    servers=(
                        s.Server(url="http://private-ip-server-1/", weight=2),
                        s.Server(url="http://private-ip-server-2/", preserve_path=True),
                    ),
                    strategy="p2c",
                )
            ),
            id="loadBalancer servers",
        ),
        pytest.param(
            "loadBalancer:\n  servers: [{url: 'http://a'}]\n  healthCheck:\n    path: /health\n    interval: 10s\n"
            "    unhealthyInterval: 2s\n    timeout: 3s\n    scheme: https\n    mode: grpc\n    hostname: example.org\n"
            "    port: 8443\n    status: 204\n    method: HEAD\n    followRedirects: false\n"
            "    headers: {My-Custom-Header: foo}",
            s.Service(
                load_balancer=s.LoadBalancer(
                    servers=(s.Server(url="http://a"),),
                    health_check=s.ServerHealthCheck(
                        path="/health",
                        interval=10.0,
                        unhealthy_interval=2.0,
                        timeout=3.0,
                        scheme="https",
                        mode="grpc",
                        hostname="example.org",
                        port=8443,
                        status=204,
                        method="HEAD",
                        follow_redirects=False,
                        headers=FrozenDict({"My-Custom-Header": "foo"}),
                    ),
                )
            ),
            id="loadBalancer healthCheck",
        ),
        pytest.param(
            "loadBalancer:\n  servers: [{url: 'http://a'}]\n"
            "  passiveHealthCheck: {failureWindow: 3s, maxFailedAttempts: 3}\n"
            "  sticky:\n    cookie: {name: my_sticky_cookie_name, secure: true, httpOnly: true, sameSite: none,"
            " maxAge: 42, path: /foo, domain: example.org}\n  responseForwarding: {flushInterval: 1s}\n"
            "  passHostHeader: false\n  serversTransport: mytransport",
            s.Service(
                load_balancer=s.LoadBalancer(
                    servers=(s.Server(url="http://a"),),
                    passive_health_check=s.PassiveHealthCheck(failure_window=3.0, max_failed_attempts=3),
                    sticky=s.Sticky(
                        cookie=s.Cookie(
                            name="my_sticky_cookie_name",
                            secure=True,
                            http_only=True,
                            same_site="none",
                            max_age=42,
                            path="/foo",
                            domain="example.org",
                        )
                    ),
                    response_forwarding=s.ResponseForwarding(flush_interval=1.0),
                    pass_host_header=False,
                    servers_transport="mytransport",
                )
            ),
            id="loadBalancer sticky passive forwarding",
        ),
        pytest.param(
            "weighted:\n  services:\n    - name: appv1\n      weight: 3\n    - name: appv2\n      weight: 1\n"
            "  sticky: {cookie: {}}\n  healthCheck: {}",
            s.Service(
                weighted=s.WeightedRoundRobin(
                    services=(s.WeightedService(name="appv1", weight=3), s.WeightedService(name="appv2", weight=1)),
                    sticky=s.Sticky(cookie=s.Cookie()),
                    health_check=s.ParentHealthCheck(),
                )
            ),
            id="weighted",
        ),
        pytest.param(
            "mirroring:\n  service: appv1\n  mirrorBody: false\n  maxBodySize: 1024\n"
            "  mirrors:\n    - name: appv2\n      percent: 10",
            s.Service(
                mirroring=s.Mirroring(
                    service="appv1",
                    mirror_body=False,
                    max_body_size=1024,
                    mirrors=(s.MirrorService(name="appv2", percent=10),),
                )
            ),
            id="mirroring",
        ),
        pytest.param(
            "failover: {service: main, fallback: backup, healthCheck: {}}",
            s.Service(failover=s.Failover(service="main", fallback="backup", health_check=s.ParentHealthCheck())),
            id="failover",
        ),
        pytest.param(
            "highestRandomWeight:\n  services: [{name: a, weight: 2}, {name: b}]",
            s.Service(
                highest_random_weight=s.HighestRandomWeight(
                    services=(s.WeightedService(name="a", weight=2), s.WeightedService(name="b"))
                )
            ),
            id="highestRandomWeight",
        ),
    ],
)
def test_documented_service_examples(snippet: str, expected: s.Service) -> None:
    service = _service(snippet)
    assert service == expected
    assert service.kind
    hash(service)


def test_service_defaults_match_traefik() -> None:
    lb = _service("loadBalancer: {servers: [{url: 'http://a'}]}").load_balancer
    assert lb is not None
    assert (lb.strategy, lb.pass_host_header, lb.response_forwarding.flush_interval) == ("wrr", True, 0.1)
    assert lb.sticky is None
    assert lb.health_check is None
    assert lb.passive_health_check is None
    assert s.ServerHealthCheck() == s.ServerHealthCheck(
        mode="http", interval=30.0, timeout=5.0, follow_redirects=True, unhealthy_interval=None
    )
    assert s.Cookie().path == "/"
    assert s.Mirroring(service="x").max_body_size == -1
    assert s.Mirroring(service="x").mirror_body is True
    assert s.PassiveHealthCheck() == s.PassiveHealthCheck(failure_window=10.0, max_failed_attempts=1)


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        pytest.param(
            "failover: {service: a}", "http.services.svc.failover.fallback: missing required option", id="failover"
        ),
        pytest.param(
            "mirroring: {mirrors: [{name: b}]}", "http.services.svc.mirroring.service: missing required", id="mirroring"
        ),
        pytest.param(
            "weighted: {services: [{weight: 2}]}", "http.services.svc.weighted.services[0].name: missing", id="weighted"
        ),
    ],
)
def test_required_fields(snippet: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        _service(snippet)


def test_servers_transport_example() -> None:
    data = yaml.load(
        "serverName: myhost\ninsecureSkipVerify: true\nrootCAs: [foo.crt, bar.crt]\n"
        "certificates: [{certFile: foo.crt, keyFile: bar.crt}]\nmaxIdleConnsPerHost: 7\ndisableHTTP2: true\n"
        "peerCertURI: foobar\nspiffe: {ids: ['spiffe://trust-domain/id1'], trustDomain: 'spiffe://trust-domain'}\n"
        "forwardingTimeouts: {dialTimeout: 1s, responseHeaderTimeout: 1s, idleConnTimeout: 1s,"
        " readIdleTimeout: 1s, pingTimeout: 1s}\n",
        Loader=yaml.CSafeLoader,
    )
    config, warnings = decode_dynamic({"http": {"serversTransports": {"mytransport": data}}})
    assert warnings == []
    transport = config.http.servers_transports["mytransport"]
    assert isinstance(transport, ServersTransport)
    assert transport.disable_http2 is True
    assert transport.peer_cert_uri == "foobar"
    assert transport.certificates[0].key_file == "bar.crt"
    assert transport.spiffe is not None
    assert transport.spiffe.trust_domain == "spiffe://trust-domain"
    timeouts = transport.forwarding_timeouts
    assert (timeouts.dial_timeout, timeouts.read_idle_timeout, timeouts.ping_timeout) == (1.0, 1.0, 1.0)
    assert ServersTransport().forwarding_timeouts.ping_timeout == 15.0
