"""Service kinds through the real CLI: WRR, weighted, sticky cookies, active health checks and failover."""

from __future__ import annotations

from typing import Any

import pytest
from edge_harness import eventually, free_port, http_request

pytestmark = pytest.mark.integration


def _router(service: str) -> dict[str, Any]:
    return {"r": {"rule": "Host(`app.test`)", "service": service}}


def _names(port: int, n: int, headers: dict[str, str] | None = None) -> list[str]:
    out = []
    for _ in range(n):
        resp = http_request(port, path="/", headers={"Host": "app.test", **(headers or {})})
        assert resp.status == 200, resp
        out.append(resp.body.split(b" ", 1)[0].decode())
    return out


def test_round_robin_alternates_between_servers(backend, ingress):
    a, b = backend("a"), backend("b")
    proxy = ingress(
        {
            "http": {
                "routers": _router("s"),
                "services": {"s": {"loadBalancer": {"servers": [{"url": a.url}, {"url": b.url}]}}},
            }
        }
    )
    names = _names(proxy.port, 4)
    assert sorted(names) == ["a", "a", "b", "b"]
    assert names[0] != names[1]
    assert names[1] != names[2]


def test_weighted_service_splits_three_to_one(backend, ingress):
    a, b = backend("a"), backend("b")
    proxy = ingress(
        {
            "http": {
                "routers": _router("canary"),
                "services": {
                    "canary": {"weighted": {"services": [{"name": "va", "weight": 3}, {"name": "vb", "weight": 1}]}},
                    "va": {"loadBalancer": {"servers": [{"url": a.url}]}},
                    "vb": {"loadBalancer": {"servers": [{"url": b.url}]}},
                },
            }
        }
    )
    names = _names(proxy.port, 8)
    assert names.count("a") == 6
    assert names.count("b") == 2


def test_sticky_cookie_pins_the_client_and_is_not_resent(backend, ingress):
    a, b = backend("a"), backend("b")
    proxy = ingress(
        {
            "http": {
                "routers": _router("s"),
                "services": {
                    "s": {
                        "loadBalancer": {
                            "servers": [{"url": a.url}, {"url": b.url}],
                            "sticky": {"cookie": {"name": "lb", "httpOnly": True}},
                        }
                    }
                },
            }
        }
    )
    first = http_request(proxy.port, path="/", headers={"Host": "app.test"})
    cookie = first.header("Set-Cookie")
    assert cookie is not None
    assert cookie.startswith("lb=")
    assert "HttpOnly" in cookie
    assert "Path=/" in cookie
    pinned = first.body.split(b" ", 1)[0].decode()
    value = cookie.split(";", 1)[0]
    for _ in range(4):
        again = http_request(proxy.port, path="/", headers={"Host": "app.test", "Cookie": value})
        assert again.body.split(b" ", 1)[0].decode() == pinned
        assert again.header("Set-Cookie") is None, "no Set-Cookie while the cookie is valid"


def test_active_health_check_takes_a_dead_server_out_of_rotation(backend, ingress):
    alive = backend("alive")
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    proxy = ingress(
        {
            "http": {
                "routers": _router("s"),
                "services": {
                    "s": {
                        "loadBalancer": {
                            "servers": [{"url": alive.url}, {"url": dead}],
                            "healthCheck": {"path": "/echo", "interval": "100ms", "timeout": "500ms"},
                        }
                    }
                },
            }
        }
    )

    def only_alive_answers() -> bool:
        return all(http_request(proxy.port, path="/", headers={"Host": "app.test"}).status == 200 for _ in range(4))

    eventually(only_alive_answers, timeout=10)
    assert _names(proxy.port, 6) == ["alive"] * 6


def test_failover_serves_the_fallback_while_the_main_service_is_down(backend, ingress):
    fallback = backend("fallback")
    dead = f"http://127.0.0.1:{free_port()}"
    proxy = ingress(
        {
            "http": {
                "routers": _router("fo"),
                "services": {
                    "fo": {"failover": {"service": "main", "fallback": "spare"}},
                    "main": {
                        "loadBalancer": {
                            "servers": [{"url": dead}],
                            "healthCheck": {"path": "/echo", "interval": "100ms", "timeout": "500ms"},
                        }
                    },
                    "spare": {"loadBalancer": {"servers": [{"url": fallback.url}]}},
                },
            }
        }
    )
    eventually(lambda: http_request(proxy.port, path="/", headers={"Host": "app.test"}).status == 200, timeout=10)
    assert _names(proxy.port, 3) == ["fallback"] * 3


def test_no_healthy_server_answers_503_no_available_server(backend, ingress):
    dead = f"http://127.0.0.1:{free_port()}"
    proxy = ingress(
        {
            "http": {
                "routers": _router("s"),
                "services": {
                    "s": {
                        "loadBalancer": {
                            "servers": [{"url": dead}],
                            "healthCheck": {"path": "/", "interval": "100ms", "timeout": "300ms"},
                        }
                    }
                },
            }
        }
    )

    def unavailable() -> bool:
        resp = http_request(proxy.port, path="/", headers={"Host": "app.test"})
        return resp.status == 503 and resp.body == b"no available server\n"

    eventually(unavailable, timeout=10)
