"""``tls_certs_not_after{cn,serial,sans}`` through the real CLI: one series per configured certificate, replaced on
reload, never one for the generated default certificate."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from edge_harness import eventually, free_port, http_request, lb_service

pytestmark = pytest.mark.integration


def _write_leaf(ca: trustme.CA, root: Path, *hosts: str) -> x509.Certificate:
    """Issue a leaf for ``hosts`` (and 127.0.0.1, which Traefik's sans label leaves out) into root/leaf.{crt,key}."""
    leaf = ca.issue_cert(*hosts, "127.0.0.1", common_name=hosts[0])
    leaf.private_key_pem.write_to_path(str(root / "leaf.key"))
    leaf.cert_chain_pems[0].write_to_path(str(root / "leaf.crt"))
    return x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())


def _cert_series(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("hanzo_ingress_tls_certs_not_after{")]


def _expected(cert: x509.Certificate, cn: str, sans: str) -> str:
    return (
        f'hanzo_ingress_tls_certs_not_after{{cn="{cn}",sans="{sans}",serial="{cert.serial_number}"}} '
        f"{int(cert.not_valid_after_utc.timestamp())}"
    )


def _value_matches(line: str, expected: str) -> bool:
    """Same labels (sorted by name, as Prometheus prints them), same value (Go's %g prints 3.250368e+10)."""
    labels, _, value = line.rpartition(" ")
    want_labels, _, want_value = expected.rpartition(" ")
    return labels == want_labels and float(value) == float(want_value)


def test_certificate_expiry_gauge_follows_the_configured_certificates(backend, ingress, tmp_path: Path) -> None:
    app = backend("app")
    ca = trustme.CA()
    # DNS names out of order: the label is them sorted and comma-joined, as Traefik's appendCertMetric does.
    first = _write_leaf(ca, tmp_path, "b.test", "a.test")
    metrics_port = free_port()
    ingress(
        {
            "http": {
                "routers": {"a": {"rule": "Host(`a.test`)", "service": "app", "tls": {}}},
                "services": {"app": lb_service(app.url)},
            },
            "tls": {"certificates": [{"certFile": str(tmp_path / "leaf.crt"), "keyFile": str(tmp_path / "leaf.key")}]},
        },
        "--metrics.prometheus=true",
        "--metrics.prometheus.entryPoint=metrics",
        f"--entrypoints.metrics.address=127.0.0.1:{metrics_port}",
    )

    def series() -> list[str]:
        return _cert_series(http_request(metrics_port, path="/metrics").body.decode())

    (line,) = series()  # the generated TRAEFIK DEFAULT CERT has no series
    assert _value_matches(line, _expected(first, "b.test", "a.test,b.test")), line
    assert re.search(r'serial="\d+"', line)

    second = _write_leaf(ca, tmp_path, "c.test")  # the certificate file poll rebuilds with the new certificate
    eventually(lambda: len(series()) == 1 and f'serial="{second.serial_number}"' in series()[0], timeout=15)
    (line,) = series()
    assert _value_matches(line, _expected(second, "c.test", "c.test")), line
