"""Review fix: a no-op endpoint's backend breaker counts failed calls, not the statuses it passes through (Lura gives
no-op backends NoOpHTTPStatusHandler, so a 404 or 401 is an answer there, never an error)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fakes import FakeClock
from hanzo_edge.gateway.document import parse_document
from hanzo_edge.gateway.translate import translate_document
from hanzo_edge.http.errors import UpstreamError
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.middlewares.base import BuildContext
from hanzo_edge.middlewares.krakend_circuit_breaker import KrakendCircuitBreaker, KrakendCircuitBreakerConfig


def _breaker_options(output_encoding: str) -> Any:
    config = {
        "version": 3,
        "host": ["http://127.0.0.1:9000"],
        "endpoints": [
            {
                "endpoint": "/a",
                "output_encoding": output_encoding,
                "backend": [
                    {"url_pattern": "/x", "extra_config": {"qos/circuit-breaker": {"timeout": 10, "max_errors": 1}}}
                ],
            }
        ],
    }
    translation = translate_document(parse_document(json.dumps(config), {}))
    assert translation is not None
    assert translation.errors == []
    merge = translation.configuration.http.services["ep0-get"].extension  # type: ignore[union-attr]
    (options,) = merge.backend_wrappers[0]
    assert isinstance(options, KrakendCircuitBreakerConfig)
    return options


def _outcomes(options: KrakendCircuitBreakerConfig, statuses: list[int]) -> list[int | str]:
    answers = iter(statuses)

    async def backend(req: Request) -> Response:
        return Response(next(answers), Headers(), b"")

    wrapper = KrakendCircuitBreaker(backend, options, name="b", ctx=BuildContext(clock=FakeClock()))

    async def scenario() -> list[int | str]:
        out: list[int | str] = []
        for _ in statuses:
            try:
                out.append((await wrapper(Request("GET", "/", Headers()))).status)
            except UpstreamError as exc:
                out.append(str(exc))
        return out

    return asyncio.run(scenario())


def test_a_no_op_backend_breaker_ignores_passed_through_statuses() -> None:
    # Before the fix two client-provoked 404s opened the breaker of a no-op endpoint: everyone then got 500.
    assert _outcomes(_breaker_options("no-op"), [404, 401, 404, 200]) == [404, 401, 404, 200]


def test_a_merging_backend_breaker_still_counts_them() -> None:
    assert _outcomes(_breaker_options("json"), [404, 401, 200]) == [404, 401, "circuit breaker is open"]
