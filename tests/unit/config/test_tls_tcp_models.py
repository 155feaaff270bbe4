"""Decode documented Traefik v3 examples of the tls, tcp and udp sections."""

from __future__ import annotations

import pathlib

import pytest
import yaml

from hanzo_edge.config import tcp as t
from hanzo_edge.config import tls
from hanzo_edge.config.dynamic import Configuration, decode_dynamic
from hanzo_edge.config.errors import ConfigError
from hanzo_edge.providers.file import load_file_snapshot

TLS_EXAMPLE = """
tls:
  certificates:
    - certFile: /path/to/domain.cert
      keyFile: /path/to/domain.key
    - certFile: /path/to/other.cert
      keyFile: /path/to/other.key
      stores: [default]
  options:
    default:
      minVersion: VersionTLS12
    mintls13:
      minVersion: VersionTLS13
      cipherSuites: [TLS_AES_128_GCM_SHA256]
      curvePreferences: [CurveP521, CurveP384]
      sniStrict: true
      clientAuth:
        caFiles: [tests/clientca1.crt, tests/clientca2.crt]
        clientAuthType: RequireAndVerifyClientCert
      alpnProtocols: [http/1.1, h2]
  stores:
    default:
      defaultCertificate:
        certFile: path/to/cert.crt
        keyFile: path/to/cert.key
      defaultGeneratedCert:
        resolver: myresolver
        domain: {main: example.org, sans: [foo.example.org]}
"""

TCP_EXAMPLE = """
tcp:
  routers:
    to-db:
      entryPoints: [postgres]
      rule: HostSNI(`db.example.com`)
      service: db
      middlewares: [only-internal]
      tls: {passthrough: true}
    catch-all:
      rule: HostSNI(`*`)
      service: db
  services:
    db:
      loadBalancer:
        servers:
          - address: 10.0.0.5:5432
          - address: 10.0.0.6:5432
            tls: true
        serversTransport: dbtransport
    split:
      weighted:
        services: [{name: db, weight: 3}, {name: db2}]
  middlewares:
    only-internal:
      ipAllowList: {sourceRange: [10.0.0.0/8]}
    limit:
      inFlightConn: {amount: 10}
  serversTransports:
    dbtransport:
      dialTimeout: 5s
      proxyProtocol: {}
      tls: {serverName: db.internal, insecureSkipVerify: true}
udp:
  routers:
    dns:
      entryPoints: [dns]
      service: dns
  services:
    dns:
      loadBalancer:
        servers: [{address: 10.0.0.53:53}]
"""


def _decode(text: str) -> Configuration:
    config, warnings = decode_dynamic(yaml.load(text, Loader=yaml.CSafeLoader))
    assert [str(w) for w in warnings] == []
    return config


def test_tls_example() -> None:
    config = _decode(TLS_EXAMPLE)
    assert config.tls is not None
    assert [c.cert_file for c in config.tls.certificates] == ["/path/to/domain.cert", "/path/to/other.cert"]
    assert config.tls.certificates[1].stores == ("default",)
    strict = config.tls.options["mintls13"]
    assert strict.min_version == "VersionTLS13"
    assert strict.sni_strict is True
    assert strict.alpn_protocols == ("http/1.1", "h2")
    assert strict.client_auth == tls.ClientAuth(
        ca_files=("tests/clientca1.crt", "tests/clientca2.crt"), client_auth_type="RequireAndVerifyClientCert"
    )
    assert config.tls.options["default"].alpn_protocols == ("h2", "http/1.1", "acme-tls/1")
    store = config.tls.stores["default"]
    assert store.default_certificate == tls.StoreCertificate(cert_file="path/to/cert.crt", key_file="path/to/cert.key")
    assert store.default_generated_cert is not None
    assert store.default_generated_cert.domain == tls.TLSDomain(main="example.org", sans=("foo.example.org",))
    assert not config.is_empty()


def test_tcp_and_udp_example() -> None:
    config = _decode(TCP_EXAMPLE)
    assert config.tcp is not None
    router = config.tcp.routers["to-db"]
    assert router.tls == t.TCPRouterTLS(passthrough=True)
    assert router.entry_points == ("postgres",)
    db = config.tcp.services["db"].load_balancer
    assert db is not None
    assert db.servers == (t.TCPServer(address="10.0.0.5:5432"), t.TCPServer(address="10.0.0.6:5432", tls=True))
    split = config.tcp.services["split"].weighted
    assert split is not None
    assert [(s.name, s.weight) for s in split.services] == [("db", 3), ("db2", 1)]
    assert config.tcp.middlewares["only-internal"].ip_allow_list == t.TCPIPAllowList(source_range=("10.0.0.0/8",))
    assert config.tcp.middlewares["limit"].in_flight_conn == t.TCPInFlightConn(amount=10)
    transport = config.tcp.servers_transports["dbtransport"]
    assert (transport.dial_timeout, transport.dial_keep_alive, transport.termination_delay) == (5.0, 15.0, 0.1)
    assert transport.proxy_protocol == t.TCPProxyProtocol(version=2)
    assert transport.tls is not None
    assert transport.tls.server_name == "db.internal"
    assert config.udp is not None
    assert config.udp.routers["dns"].service == "dns"
    udp_lb = config.udp.services["dns"].load_balancer
    assert udp_lb is not None
    assert udp_lb.servers[0].address == "10.0.0.53:53"
    hash(config)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param({"tcp": {"services": {"s": {}}}}, "tcp.services.s: exactly one of", id="tcp service kind"),
        pytest.param({"tcp": {"middlewares": {"m": {}}}}, "tcp.middlewares.m: exactly one of", id="tcp middleware"),
        pytest.param(
            {"udp": {"services": {"s": {"weighted": {}, "loadBalancer": {}}}}},
            "got loadBalancer and weighted",
            id="udp",
        ),
        pytest.param(
            {"tcp": {"services": {"s": {"loadBalancer": {"servers": [{"tls": True}]}}}}},
            "tcp.services.s.loadBalancer.servers[0].address: missing required option",
            id="tcp server address",
        ),
    ],
)
def test_exactly_one_and_required(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        decode_dynamic(data)
    assert message in str(info.value)


def test_directory_merges_tcp_and_tls(tmp_path: pathlib.Path) -> None:
    (tmp_path / "a.yml").write_text(TLS_EXAMPLE + TCP_EXAMPLE)
    (tmp_path / "b.yml").write_text(
        "tls:\n  certificates:\n    - {certFile: /path/to/domain.cert, keyFile: /path/to/domain.key}\n"
        "    - {certFile: /b.cert, keyFile: /b.key}\n"
        "  options:\n    default: {minVersion: VersionTLS13}\n"
        "tcp:\n  routers:\n    extra: {rule: HostSNI(`*`), service: db}\n"
    )
    config, warnings = load_file_snapshot(directory=str(tmp_path))
    assert config.tls is not None
    assert [c.cert_file for c in config.tls.certificates] == [
        "/path/to/domain.cert",
        "/path/to/other.cert",
        "/b.cert",
    ]
    assert config.tls.options["default"].min_version == "VersionTLS12"
    assert config.tcp is not None
    assert set(config.tcp.routers) == {"to-db", "catch-all", "extra"}
    assert config.udp is not None
    assert [str(w) for w in warnings] == [
        f"{tmp_path}/b.yml: tls.options.default: already defined in {tmp_path}/a.yml; this definition is ignored"
    ]
