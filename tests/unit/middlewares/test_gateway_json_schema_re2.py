"""``validation/json-schema``: the schema's regexps run on RE2 (Go syntax), never on Python's backtracking ``re``."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.middlewares.base import BuildContext
from hanzo_edge.middlewares.krakend_json_schema import KrakendJsonSchema, KrakendJsonSchemaConfig, compile_schema


async def _ok(req: Request) -> Response:
    return Response(200, Headers(), b"ok")


def _status(schema: dict[str, Any], body: Any) -> int:
    middleware = KrakendJsonSchema(
        _ok, KrakendJsonSchemaConfig(schema=json.dumps(schema)), name="schema", ctx=BuildContext()
    )
    req = Request("POST", "/x", Headers(), body=json.dumps(body).encode())
    return asyncio.run(middleware(req)).status


def test_a_catastrophic_pattern_answers_at_once() -> None:
    # Before the fix jsonschema ran the pattern on `re`: this body took seconds, each added "a" doubling it.
    schema = {"type": "object", "properties": {"name": {"type": "string", "pattern": "^(a+)+$"}}}
    started = time.monotonic()
    assert _status(schema, {"name": "a" * 26 + "!"}) == 400
    assert time.monotonic() - started < 1.0
    assert _status(schema, {"name": "aaaa"}) == 200


def test_pattern_properties_and_additional_properties_use_the_same_engine() -> None:
    schema = {
        "type": "object",
        "properties": {"id": {"type": "integer"}},
        "patternProperties": {"^x-(a+)+$": {"type": "string"}},
        "additionalProperties": False,
    }
    assert _status(schema, {"id": 1, "x-aaa": "v"}) == 200
    assert _status(schema, {"id": 1, "x-aaa": 5}) == 400  # the patternProperties subschema applies
    started = time.monotonic()
    assert _status(schema, {"id": 1, "x-" + "a" * 26 + "!": "v"}) == 400  # not matched: an additional property
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"type": "string", "pattern": "(?<=a)b"}, "error parsing regexp"),  # valid in `re`, not in Go
        ({"patternProperties": {"^a": {}}, "unevaluatedProperties": False}, "unevaluatedProperties"),
    ],
)
def test_what_cannot_run_on_re2_is_a_configuration_error(schema: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compile_schema(schema)
