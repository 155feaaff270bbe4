"""KrakenD's ``/__stats`` map (gateway/stats.py): keys, values, the collection period on a fake clock."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fakes import FakeClock
from hanzo_edge.gateway.document import parse_document
from hanzo_edge.gateway.errors import format_path
from hanzo_edge.gateway.stats import (
    GatewayStats,
    Histogram,
    StatsConfig,
    backend_name,
    endpoint_name,
    go_float,
)
from hanzo_edge.gateway.translate import translate_document
from hanzo_edge.http.messages import Request


def _request(router: str | None) -> Request:
    route = SimpleNamespace(name=router) if router is not None else None
    return cast(Request, SimpleNamespace(route=route))


def _stats(stats: GatewayStats) -> dict[str, Any]:
    body = stats.render()
    assert body.startswith(b"{\n")
    assert body.endswith(b"\n}\n")
    parsed: dict[str, Any] = json.loads(body)
    return parsed


def test_names_are_gin_and_lura_forms() -> None:
    assert endpoint_name("/users/{id}/posts/{post_id}") == "/users/:id/posts/:post_id"
    assert backend_name("/user/{id}/{resp0_x}") == "/user/{{.Id}}/{{.Resp0_x}}"
    assert backend_name("/plain") == "/plain"


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.0, "0"), (3.0, "3"), (0.25, "0.25"), (123456.0, "123456"), (1234567.0, "1.234567e+06"),
     (11591000.0, "1.1591e+07"), (0.0001, "0.0001"), (0.00001, "1e-05"), (-2.5, "-2.5")],
)  # fmt: skip
def test_floats_are_written_as_go_writes_them(value: float, text: str) -> None:
    assert go_float(value) == text


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_go_float_round_trips(value: float) -> None:
    assert float(go_float(value)) == value


def test_histogram_fields_are_go_metrics() -> None:
    histogram = Histogram()
    for value in (4, 1, 3, 2):
        histogram.update(value)
    fields = dict(histogram.fields())
    assert fields == {
        "count": "4",
        "min": "1",
        "max": "4",
        "mean": "2.5",
        "std-dev": "1.118033988749895",
        "50-percentile": "2.5",
        "75-percentile": "3.75",
        "95-percentile": "4",
        "99-percentile": "4",
        "999-percentile": "4",
    }
    histogram.clear()
    assert dict(histogram.fields())["count"] == "0"
    assert dict(histogram.fields())["99-percentile"] == "0"


def test_histogram_keeps_a_bounded_sample_and_the_whole_count() -> None:
    histogram = Histogram()
    for value in range(5000):
        histogram.update(value)
    assert histogram.count == 5000
    assert len(histogram.values) == 1028


def test_counts_per_endpoint_and_the_collection_period() -> None:
    clock = FakeClock()
    stats = GatewayStats(StatsConfig(collection_time=60), clock)
    stats.bind_routes({"ep0-get@gateway": "/users/{id}", "ep1-get@gateway": "/broken"})
    pipe = stats.layer_cells("pipe", "/users/:id")
    assert pipe is not None
    for _ in range(3):
        stats.connected += 1
        stats.observe(_request("ep0-get@gateway"), 200, 120, 0.002, False)
        pipe.record(True, False, 0.0015)
    stats.connected += 1
    stats.observe(_request("ep1-get@gateway"), 500, 0, 0.001, False)
    stats.observe(_request(None), 404, 18, 0.001, False)  # gin's own answers are not an endpoint's
    stats.observe(_request("other@file"), 200, 1, 0.001, False)
    first = _stats(stats)
    base = "krakend.router.response./users/:id"
    assert first[f"{base}.status"] == 0
    assert first[f"{base}.status.200.count"] == 3
    assert first[f"{base}.size.count"] == 3
    assert first[f"{base}.size.mean"] == 120
    assert first[f"{base}.time.max"] == 2_000_000
    assert first["krakend.router.response./broken.status.500.count"] == 1
    assert (first["krakend.router.connected"], first["krakend.router.disconnected"]) == (4, 4)
    assert first["krakend.router.connected-total"] == 0
    labels = "layer.pipe.name./users/:id.complete.true.error.false"
    assert first[f"krakend.proxy.requests.{labels}"] == 3
    assert first[f"krakend.proxy.latency.{labels}.50-percentile"] == 1_500_000
    for combination in ("true.error.true", "false.error.true", "false.error.false"):
        assert first[f"krakend.proxy.requests.layer.pipe.name./users/:id.complete.{combination}"] == 0
    assert list(first) == sorted(first)
    clock.advance(59)
    assert stats.collect_due() == 0
    clock.advance(1)
    assert stats.collect_due() == 1
    after = _stats(stats)
    assert (after["krakend.router.connected"], after["krakend.router.connected-gauge"]) == (0, 4)
    assert (after["krakend.router.connected-total"], after["krakend.router.disconnected-total"]) == (4, 4)
    assert after[f"{base}.status.200.count"] == 3  # counters stay
    assert after[f"{base}.time.count"] == 0  # histograms are cleared each period
    assert after[f"krakend.proxy.requests.{labels}"] == 3
    assert after[f"krakend.proxy.latency.{labels}.count"] == 0
    assert after["krakend.service.runtime.NumThread"] >= 1
    clock.advance(180)
    assert stats.collect_due() == 3
    assert _stats(stats)["krakend.router.connected-gauge"] == 0
    assert _stats(stats)["krakend.router.connected-total"] == 4


def test_disabled_layers_have_no_keys() -> None:
    stats = GatewayStats(StatsConfig(router=False, proxy=False, backend=False), FakeClock())
    stats.bind_routes({"ep0-get@gateway": "/x"})
    assert stats.layer_cells("pipe", "/x") is None
    assert stats.layer_cells("backend", "/y") is None
    handler = cast(Any, object())
    assert stats.counting(handler) is handler
    stats.observe(_request("ep0-get@gateway"), 200, 1, 0.001, False)
    keys = set(_stats(stats))
    assert not [k for k in keys if k.startswith(("krakend.proxy.", "krakend.router.response."))]
    assert "krakend.router.connected" in keys  # registered whatever the switches, as krakend-metrics does


def test_the_collector_runs_on_its_clock() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        stats = GatewayStats(StatsConfig(collection_time=10), clock)
        stats.connected = 2
        task = asyncio.ensure_future(stats.run(clock.sleep))
        await asyncio.sleep(0)
        assert clock.sleeps == [10]
        clock.advance(10)
        for _ in range(5):
            await asyncio.sleep(0)
        assert stats.gauges["connected-gauge"] == 2
        assert stats.connected == 0
        task.cancel()

    asyncio.run(scenario())


def test_cpython_collections_are_go_metrics_gc_stats_while_the_collector_runs() -> None:
    import gc

    async def scenario() -> GatewayStats:
        clock = FakeClock()
        stats = GatewayStats(StatsConfig(collection_time=10), clock)
        task = asyncio.ensure_future(stats.run(clock.sleep))
        await asyncio.sleep(0)
        assert stats.gc in gc.callbacks
        gc.collect()
        clock.advance(10)
        for _ in range(5):
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return stats

    stats = asyncio.run(scenario())
    assert stats.gc not in gc.callbacks
    figures = _stats(stats)
    assert figures["krakend.service.debug.GCStats.LastGC"] > 0
    assert figures["krakend.service.debug.GCStats.PauseTotal"] > 0
    assert figures["krakend.service.debug.GCStats.NumGC"] >= 1
    assert figures["krakend.service.debug.GCStats.Pause.count"] == 1
    stats.collect()  # no collection since: no new pause sample, and the histogram was cleared
    assert _stats(stats)["krakend.service.debug.GCStats.Pause.count"] == 0


def test_the_handler_answers_get_and_refuses_other_methods() -> None:
    stats = GatewayStats(StatsConfig(), FakeClock())
    get = asyncio.run(stats.handler(cast(Request, SimpleNamespace(method="GET"))))
    assert get.status == 200
    assert get.headers.get("content-type") == "application/json; charset=utf-8"
    post = asyncio.run(stats.handler(cast(Request, SimpleNamespace(method="POST"))))
    assert post.status == 405


def _translation(metrics: dict[str, Any]) -> Any:
    config = {
        "version": 3,
        "extra_config": {"telemetry/metrics": metrics},
        "endpoints": [{"endpoint": "/a", "backend": [{"host": ["http://b"], "url_pattern": "/a"}]}],
    }
    return translate_document(parse_document(json.dumps(config), {}))


def test_the_namespace_gives_the_collector_settings() -> None:
    translation = _translation({"collection_time": "30s", "proxy_disabled": True, "listen_address": ":9100"})
    assert translation.errors == []
    assert translation.stats == StatsConfig(collection_time=30.0, proxy=False)
    assert "--entrypoints.krakend-metrics.address=:9100" in translation.static_args
    assert any("memstats" in str(w) for w in translation.warnings)
    hidden = _translation({"endpoint_disabled": True})
    assert hidden.stats == StatsConfig(endpoint=False)
    assert not any("memstats" in str(w) for w in hidden.warnings)
    bad = _translation({"collection_time": "soon"})
    assert [format_path(e.path) for e in bad.errors] == ['$.extra_config["telemetry/metrics"].collection_time']
    assert _translation({"collection_time": "0s"}).errors
