"""highestRandomWeight through the real CLI: clients from distinct loopback IPs, each pinned to one child service."""

from __future__ import annotations

import http.client
from collections import Counter

import pytest
from edge_harness import eventually

pytestmark = pytest.mark.integration


def _served_from(port: int, source_ip: str) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source_ip, 0))
    try:
        conn.request("GET", "/", headers={"Host": "app.test"})
        resp = conn.getresponse()
        body = resp.read()
        assert resp.status == 200, (resp.status, body)
        return body.split(b" ", 1)[0].decode()
    finally:
        conn.close()


def test_each_client_ip_keeps_its_child_and_weights_share_the_clients(backend, ingress):
    a, b = backend("a"), backend("b")
    proxy = ingress(
        {
            "http": {
                "routers": {"r": {"rule": "Host(`app.test`)", "service": "pinned"}},
                "services": {
                    "pinned": {
                        "highestRandomWeight": {
                            "services": [{"name": "blue", "weight": 1}, {"name": "green", "weight": 3}]
                        }
                    },
                    "blue": {"loadBalancer": {"servers": [{"url": a.url}]}},
                    "green": {"loadBalancer": {"servers": [{"url": b.url}]}},
                },
            }
        }
    )
    # Child names that differ only in their last character ("va"/"vb") hash to nearly the same score with
    # Traefik's FNV-1a, so the heavier one takes almost every client there too: distinct names, as in practice.
    clients = [f"127.0.{n // 200}.{n % 200 + 2}" for n in range(120)]
    first = {ip: _served_from(proxy.port, ip) for ip in clients}
    # The same client comes back to the same child, request after request.
    assert {ip: _served_from(proxy.port, ip) for ip in clients[:30]} == {ip: first[ip] for ip in clients[:30]}
    counts = Counter(first.values())
    assert set(counts) == {"a", "b"}
    assert counts["b"] > counts["a"]


def test_a_child_without_servers_is_skipped(backend, ingress):
    a = backend("a")
    proxy = ingress(
        {
            "http": {
                "routers": {"r": {"rule": "Host(`app.test`)", "service": "pinned"}},
                "services": {
                    "pinned": {
                        "highestRandomWeight": {
                            "services": [{"name": "va"}, {"name": "empty"}],
                            "healthCheck": {},
                        }
                    },
                    "va": {
                        "loadBalancer": {"servers": [{"url": a.url}], "healthCheck": {"path": "/", "interval": "1s"}}
                    },
                    "empty": {
                        "loadBalancer": {
                            "servers": [{"url": "http://127.0.0.1:9"}],
                            "healthCheck": {"path": "/", "interval": "1s", "timeout": "200ms"},
                        }
                    },
                },
            }
        }
    )
    clients = [f"127.0.3.{n + 2}" for n in range(30)]
    # Once the health check marks the dead server down, every client is served by the live child.
    eventually(lambda: all(_served_from(proxy.port, ip) == "a" for ip in clients), timeout=15)
