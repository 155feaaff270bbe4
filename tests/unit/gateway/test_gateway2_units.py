"""Part 2 of the gateway, unit level: namespace order, gobreaker, sequential parameters, static strategies, the
refused script namespaces, martian flattening, the HTTP cache's freshness, json-schema checks."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fakes import FakeClock
from hanzo_edge.gateway.document import parse_document
from hanzo_edge.gateway.errors import format_path
from hanzo_edge.gateway.merge_service import MergeConfig
from hanzo_edge.gateway.sequential import response_params, run_sequential, wanted_params
from hanzo_edge.gateway.static_proxy import static_matches
from hanzo_edge.gateway.translate import translate_document
from hanzo_edge.http.errors import UpstreamError
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.middlewares.base import BuildContext
from hanzo_edge.middlewares.krakend_circuit_breaker import (
    CLOSED,
    HALF_OPEN,
    OPEN,
    GoBreaker,
    KrakendCircuitBreaker,
    KrakendCircuitBreakerConfig,
)
from hanzo_edge.middlewares.krakend_http_cache import freshness


def _translate(endpoint_extra: dict[str, Any], backend_extra: dict[str, Any] | None = None) -> Any:
    backend: dict[str, Any] = {"url_pattern": "/x"}
    if backend_extra is not None:
        backend["extra_config"] = backend_extra
    config = {
        "version": 3,
        "host": ["http://127.0.0.1:9000"],
        "endpoints": [{"endpoint": "/a", "extra_config": endpoint_extra, "backend": [backend]}],
    }
    return translate_document(parse_document(json.dumps(config), {}))


def test_validator_runs_before_the_rate_limit_whatever_the_key_order() -> None:
    jwt = {"alg": "RS256", "jwk_url": "http://127.0.0.1:9/jwks", "disable_jwk_security": True}
    limit = {"max_rate": 1}
    for extra in (
        {"qos/ratelimit/router": limit, "auth/validator": jwt},
        {"auth/validator": jwt, "qos/ratelimit/router": limit},
    ):
        translation = _translate(extra)
        assert translation.errors == []
        router = translation.configuration.http.routers["ep0-get"]
        assert [name.rsplit("-", 1)[1] for name in router.middlewares] == ["validator", "ratelimit"], router.middlewares


def test_backend_namespaces_become_the_backends_wrappers_in_krakends_order() -> None:
    translation = _translate(
        {},
        {
            "qos/http-cache": {},
            "modifier/martian": {"header.Modifier": {"scope": ["request"], "name": "X-A", "value": "1"}},
            "qos/circuit-breaker": {"interval": 60, "timeout": 10, "max_errors": 1},
            "qos/ratelimit/proxy": {"max_rate": 5},
        },
    )
    assert translation.errors == []
    service = translation.configuration.http.services["ep0-get"]
    merge = service.extension
    assert isinstance(merge, MergeConfig)
    kinds = [type(w).__name__ for w in merge.backend_wrappers[0]]
    assert kinds == [
        "KrakendCircuitBreakerConfig",
        "KrakendProxyRateLimitConfig",
        "KrakendMartianConfig",
        "KrakendHttpCacheConfig",
    ]


def test_cel_and_lua_disable_the_endpoint_with_a_warning_naming_the_namespace() -> None:
    for ns in ("validation/cel", "modifier/lua-proxy", "modifier/lua-endpoint"):
        translation = _translate({ns: {"sources": ["x.lua"]}})
        assert translation.errors == []
        assert "ep0-get" not in translation.configuration.http.routers
        assert translation.disabled == [f"GET /a: namespace {ns} is not supported: the endpoint is disabled"]
        assert any(ns in str(w) for w in translation.warnings)
    backend_level = _translate({}, {"modifier/lua-backend": {"sources": ["x.lua"]}})
    assert backend_level.disabled
    assert "modifier/lua-backend" in backend_level.disabled[0]


def test_martian_unsupported_modifiers_are_warned_at_their_path() -> None:
    tree = {
        "fifo.Group": {
            "modifiers": [
                {"header.Modifier": {"scope": ["request"], "name": "X-A", "value": "1"}},
                {"cookie.Modifier": {"name": "c", "value": "v"}},
            ]
        }
    }
    translation = _translate({}, {"modifier/martian": tree})
    paths = {format_path(w.path): str(w) for w in translation.warnings}
    assert any("cookie.Modifier" in p and "not supported" in m for p, m in paths.items()), paths
    assert translation.configuration.http.services["ep0-get"].extension.backend_wrappers


def test_invalid_json_schema_and_static_strategy_are_located_errors() -> None:
    bad_schema = _translate({"validation/json-schema": {"type": 12}})
    assert [format_path(e.path) for e in bad_schema.errors] == ['$.endpoints[0].extra_config["validation/json-schema"]']
    bad_static = _translate({"proxy": {"static": {"strategy": "sometimes", "data": {}}}})
    assert [format_path(e.path) for e in bad_static.errors] == ["$.endpoints[0].extra_config.proxy.static.strategy"]


def test_gobreaker_trips_after_more_than_max_errors_consecutive_failures_and_recovers() -> None:
    clock = FakeClock()
    changes: list[tuple[str, str]] = []
    breaker = GoBreaker(
        interval=0, timeout=10, max_errors=2, clock=clock, on_change=lambda a, b: changes.append((a, b))
    )
    for _ in range(2):
        breaker.before()
        breaker.after(False)
    assert breaker.current_state() == CLOSED  # 2 failures: not more than max_errors
    breaker.before()
    breaker.after(True)  # a success resets the consecutive count
    for _ in range(3):
        breaker.before()
        breaker.after(False)
    assert breaker.current_state() == OPEN
    with pytest.raises(UpstreamError, match="circuit breaker is open"):
        breaker.before()
    clock.now += 10
    assert breaker.current_state() == HALF_OPEN
    breaker.before()
    with pytest.raises(UpstreamError, match="too many requests"):
        breaker.before()  # one trial at a time
    breaker.after(False)
    assert breaker.current_state() == OPEN
    clock.now += 10
    breaker.before()
    breaker.after(True)
    assert breaker.current_state() == CLOSED
    assert changes == [(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, CLOSED)]


def test_gobreaker_interval_clears_the_counts() -> None:
    clock = FakeClock()
    breaker = GoBreaker(interval=5, timeout=10, max_errors=1, clock=clock)
    breaker.before()
    breaker.after(False)
    clock.now += 5
    breaker.before()
    breaker.after(False)
    assert breaker.current_state() == CLOSED


def test_circuit_breaker_wrapper_counts_statuses_other_than_200_201() -> None:
    statuses = iter([500, 404, 200])

    async def backend(req: Request) -> Response:
        return Response(next(statuses), Headers(), b"")

    clock = FakeClock()
    config = KrakendCircuitBreakerConfig(breaker_id="b", timeout=10, max_errors=1)
    wrapper = KrakendCircuitBreaker(backend, config, name="b", ctx=BuildContext(clock=clock))
    request = Request("GET", "/", Headers())

    async def scenario() -> list[int | str]:
        out: list[int | str] = []
        for _ in range(3):
            try:
                out.append((await wrapper(request)).status)
            except UpstreamError as exc:
                out.append(str(exc))
        return out

    assert asyncio.run(scenario()) == [500, 404, "circuit breaker is open"]


@given(st.booleans(), st.booleans(), st.booleans())
def test_static_strategies_are_luras_matchers(errored: bool, answered: bool, complete: bool) -> None:
    assert static_matches("always", errored=errored, answered=answered, complete=complete)
    assert static_matches("success", errored=errored, answered=answered, complete=complete) is (not errored)
    assert static_matches("errored", errored=errored, answered=answered, complete=complete) is errored
    assert static_matches("complete", errored=errored, answered=answered, complete=complete) is (
        not errored and answered and complete
    )
    assert static_matches("incomplete", errored=errored, answered=answered, complete=complete) is (
        not answered or not complete
    )


def test_sequential_parameters_from_earlier_answers() -> None:
    wanted = wanted_params(["/a", "/b/{resp0_id}", "/c/{resp1_user.tags}?x={resp0_flag}"])
    assert response_params(wanted, 0, {"id": 42, "flag": True}) == {"resp0_id": "42", "resp0_flag": "true"}
    assert response_params(wanted, 1, {"user": {"tags": ["a", "b"]}}) == {"resp1_user.tags": "a,b"}
    assert response_params(wanted, 0, {"other": 1}) == {}

    seen: list[dict[str, str]] = []

    async def fetch(index: int, params: dict[str, str]) -> dict[str, Any] | None:
        seen.append(dict(params))
        return None if index == 1 else {"id": index + 7}

    parts = asyncio.run(
        run_sequential(3, {"p": "v"}, wanted, fetch, lambda part: (part, True), lambda: {"skipped": True})
    )
    assert parts == [{"id": 7}, None, {"skipped": True}]  # the chain stops at the failing backend
    assert seen == [{"p": "v"}, {"p": "v", "resp0_id": "7"}]


def test_http_cache_freshness() -> None:
    assert freshness(Headers([(b"Cache-Control", b"public, max-age=60")]), 0.0) == 60.0
    assert freshness(Headers([(b"Cache-Control", b"max-age=60, s-maxage=5")]), 0.0) == 5.0
    assert freshness(Headers([(b"Cache-Control", b"no-store, max-age=60")]), 0.0) == 0.0
    assert freshness(Headers([(b"Cache-Control", b"private, max-age=60")]), 0.0) == 0.0
    assert freshness(Headers([(b"Expires", b"Thu, 01 Jan 1970 00:01:40 GMT")]), 40.0) == 60.0
    assert freshness(Headers(), 0.0) == 0.0


def _service_translation(extra: dict[str, Any]) -> Any:
    config = {
        "version": 3,
        "host": ["http://127.0.0.1:9000"],
        "extra_config": extra,
        "endpoints": [{"endpoint": "/a", "backend": [{"url_pattern": "/x"}]}],
    }
    return translate_document(parse_document(json.dumps(config), {}))


def test_opentelemetry_maps_to_our_tracing_and_prometheus_flags() -> None:
    otel = {
        "service_name": "hanzo-gateway",
        "trace_sample_rate": 0.25,
        "exporters": {
            "otlp": [{"name": "c", "host": "otel-collector", "port": 4317, "disable_metrics": True}],
            "prometheus": [{"name": "p", "port": 9091}],
        },
    }
    translation = _service_translation({"telemetry/opentelemetry": otel})
    assert translation.errors == []
    assert translation.static_args == [
        "--tracing=true",
        "--tracing.serviceName=hanzo-gateway",
        "--tracing.sampleRate=0.25",
        "--tracing.otlp.grpc.endpoint=otel-collector:4317",
        "--tracing.otlp.grpc.insecure=true",
        "--entrypoints.otel-prometheus.address=:9091",
        "--metrics.prometheus=true",
        "--metrics.prometheus.entryPoint=otel-prometheus",
    ]
    from hanzo_edge.gateway.server import gateway_static

    static = gateway_static("127.0.0.1", 8080, "INFO", translation.static_args)
    assert static.tracing is not None
    assert static.tracing.sample_rate == 0.25
    over_http = _service_translation(
        {
            "telemetry/opentelemetry": {
                "exporters": {"otlp": [{"name": "h", "host": "c", "port": 4318, "use_http": True}]}
            }
        }
    )
    assert "--tracing.otlp.http.endpoint=http://c:4318/v1/traces" in over_http.static_args
    assert any("OTLP metrics" in str(w) for w in over_http.warnings)


def test_telemetry_logging_level_and_unsupported_syslog() -> None:
    translation = _service_translation({"telemetry/logging": {"level": "WARNING", "syslog": True, "prefix": "[GW]"}})
    assert translation.static_args == ["--log.level=WARN"]
    assert translation.log_prefix == "[GW]"
    assert any("syslog" in str(w) for w in translation.warnings)
    bad = _service_translation({"telemetry/logging": {"level": "LOUD"}})
    assert [format_path(e.path) for e in bad.errors] == ['$.extra_config["telemetry/logging"].level']


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(st.text(min_size=1, max_size=4).filter(lambda k: "}" not in k and "." not in k), _JSON))
def test_response_params_take_any_answer(data: dict[str, Any]) -> None:
    """Whatever a backend answers, the placeholders get strings (or stay unset), never an exception."""
    wanted = wanted_params([f"/x/{{resp0_{key}}}" for key in data])
    params = response_params(wanted, 0, data)
    assert set(params) <= {f"resp0_{key}" for key in data}
    for key, value in data.items():
        name = f"resp0_{key}"
        if isinstance(value, bool):
            assert params[name] == ("true" if value else "false")
        elif isinstance(value, str):
            assert params[name] == value
        elif isinstance(value, dict) or value is None:
            assert name not in params


@given(_JSON)
def test_martian_reader_accepts_or_locates_any_block(block: Any) -> None:
    """Any JSON value as a modifier/martian block is either translated or a located error: never a crash."""
    config = {
        "version": 3,
        "host": ["http://127.0.0.1:9000"],
        "endpoints": [
            {"endpoint": "/a", "backend": [{"url_pattern": "/x", "extra_config": {"modifier/martian": block}}]}
        ],
    }
    translation = translate_document(parse_document(json.dumps(config), {}))
    for error in translation.errors:
        assert format_path(error.path).startswith('$.endpoints[0].backend[0].extra_config["modifier/martian"]')
