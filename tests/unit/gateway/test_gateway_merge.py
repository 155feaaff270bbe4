"""Merge semantics of the ``gatewayMerge`` service (Lura's merger and endpoint handler), on its parts.

The backend calls themselves are exercised against real backends in ``tests/integration/test_gateway_endpoints.py``;
here the combination of parts into the endpoint's answer is checked case by case, as Lura's ``merging_test.go`` and
``router/gin/endpoint_test.go`` do.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import msgspec
import pytest

from hanzo_edge.config.types import FrozenDict
from hanzo_edge.gateway.document import BackendModel, EndpointModel
from hanzo_edge.gateway.merge_service import MergeConfig, MergeService, _Part
from hanzo_edge.http.pool import PoolRegistry, TransportOptions
from hanzo_edge.services.generation import TaskScope
from hanzo_edge.services.registry import ServiceContext


def _service(**options: Any) -> MergeService:
    endpoint_options = {k: options.pop(k) for k in ("cache_ttl", "output_encoding", "flatmap_filter") if k in options}
    backend = BackendModel(url_pattern="/x", hosts=("http://127.0.0.1:9999",), method="GET")
    endpoint = EndpointModel(
        endpoint="/e/{id}/more/{other}",
        method="GET",
        backends=(backend, backend),
        timeout=2.0,
        cache_ttl=endpoint_options.get("cache_ttl", 0.0),
        concurrent_calls=1,
        output_encoding=endpoint_options.get("output_encoding", "json"),
        input_headers=("Content-Type",),
        input_query_strings=(),
        extra_config=FrozenDict(),
        flatmap_filter=endpoint_options.get("flatmap_filter", ()),
    )
    ctx = ServiceContext(
        name="e@gateway",
        provider="gateway",
        scope=TaskScope(),
        pools=PoolRegistry(),
        service=lambda name: pytest.fail("no child services"),
        transport=lambda name: TransportOptions(),
        on_activate=lambda start: None,
    )
    return MergeService(MergeConfig(endpoint=endpoint, **options), ctx)


def _answer(service: MergeService, *parts: _Part) -> tuple[int, dict[str, str], bytes]:
    response = service._respond(parts)
    return response.status, dict(response.headers), bytes(response.body)  # type: ignore[arg-type]


def test_all_parts_complete() -> None:
    status, headers, body = _answer(_service(cache_ttl=60.0), _Part({"a": 1}), _Part({"b": 2}))
    assert (status, json.loads(body)) == (200, {"a": 1, "b": 2})
    assert headers["X-Krakend-Completed"] == "true"
    assert headers["Cache-Control"] == "public, max-age=60"
    assert headers["X-Krakend"] == "Version 2.13.8"


def test_later_parts_overwrite_colliding_keys() -> None:
    assert json.loads(_answer(_service(), _Part({"a": 1, "k": "first"}), _Part({"k": "second"}))[2]) == {
        "a": 1,
        "k": "second",
    }


def test_partial_answer_is_200_incomplete_without_cache_control() -> None:
    status, headers, body = _answer(_service(cache_ttl=60.0), _Part({"a": 1}), _Part(None, False, "boom"))
    assert (status, json.loads(body)) == (200, {"a": 1})
    assert headers["X-Krakend-Completed"] == "false"
    assert "Cache-Control" not in headers


def test_empty_data_is_incomplete() -> None:
    status, headers, body = _answer(_service(), _Part({}), _Part({}))
    assert (status, body, headers["X-Krakend-Completed"]) == (200, b"{}", "false")


def test_no_part_is_500_with_an_empty_body() -> None:
    status, headers, body = _answer(_service(), _Part(None, False, "a"), _Part(None, False, "b"))
    assert (status, body) == (500, b"")
    assert headers["X-Krakend-Completed"] == "false"
    assert "Content-Type" not in headers


def test_return_error_msg_writes_the_errors() -> None:
    status, headers, body = _answer(_service(return_error_msg=True), _Part(None, False, "a"), _Part(None, False, "b"))
    assert (status, body) == (500, b"a\nb")
    assert headers["Content-Type"].startswith("text/plain")


def test_return_error_code_passes_the_backend_status() -> None:
    coded = _Part(None, False, "invalid status code 429", 429, b"sad panda", b"text/plain", True)
    assert _answer(_service(), coded, _Part(None, False, "x"))[:3:2] == (429, b"")
    assert _answer(_service(return_error_msg=True), coded)[2] == b"sad panda"


def test_hide_version_header() -> None:
    assert _answer(_service(hide_version_header=True), _Part({"a": 1}))[1]["X-Krakend"] == "Version undefined"


def test_endpoint_flatmap_and_output_encodings() -> None:
    flat = _service(flatmap_filter=(("del", ("a",)),))
    assert json.loads(_answer(flat, _Part({"a": 1, "b": 2}))[2]) == {"b": 2}
    xml = _service(output_encoding="xml")
    assert _answer(xml, _Part({"a": 1}))[2] == b"<doc><a>1</a></doc>"


def test_params_come_from_the_matched_segments() -> None:
    service = _service()
    assert service.params_of("/e/42/more/x%2Fy") == {"id": "42", "other": "x%2Fy"}


def test_models_are_frozen_and_comparable() -> None:
    # The builder keeps a service across generations when its model compares equal.
    assert msgspec.structs.replace(_service().config) == _service().config


def test_gzip_answers_are_decoded_within_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    import gzip

    from hanzo_edge.gateway import merge_service
    from hanzo_edge.http.errors import UpstreamError
    from hanzo_edge.http.headers import Headers
    from hanzo_edge.http.messages import Response

    def answer(data: bytes) -> Response:
        return Response(200, Headers([(b"Content-Encoding", b"gzip")]), gzip.compress(data))

    assert asyncio.run(merge_service._read(answer(b'{"a":1}'), True)) == b'{"a":1}'
    raw = answer(b"x")
    assert asyncio.run(merge_service._read(raw, False)) == raw.body  # not ours to decode
    monkeypatch.setattr(merge_service, "MAX_BACKEND_BODY", 1000)
    with pytest.raises(UpstreamError, match="larger than 1000 bytes"):
        asyncio.run(merge_service._read(answer(bytes(100_000)), True))
