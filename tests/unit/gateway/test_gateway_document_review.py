"""Review fixes: a gateway.json nested deeper than the parsers' stacks is a located error, never a traceback, and a
checker failure does not end the reload watch."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from hanzo_edge.commands.gateway_check import check_gateway
from hanzo_edge.gateway.document import parse_document
from hanzo_edge.gateway.errors import format_path
from hanzo_edge.gateway.reload import GatewayReloader
from hanzo_edge.gateway.translate import translate_document


def test_a_document_nested_too_deeply_is_a_syntax_error() -> None:
    # Before the fix json.loads' RecursionError escaped: `gateway check` printed a traceback.
    text = '{"version": 3, "x": ' + "[" * 100_000 + "]" * 100_000 + ', "endpoints": []}'
    doc = parse_document(text, {}, source="deep.json")

    assert doc.syntax_error == "'deep.json': JSON nested too deeply"


def test_a_namespace_block_nested_too_deeply_is_an_error_at_its_path() -> None:
    # Before the fix the json-schema handler's RecursionError escaped the translation.
    schema: dict[str, Any] = {"type": "object"}
    for _ in range(400):
        schema = {"not": schema}
    config = {
        "version": 3,
        "endpoints": [
            {
                "endpoint": "/a",
                "method": "POST",
                "extra_config": {"validation/json-schema": schema},
                "backend": [{"host": ["http://127.0.0.1:9000"], "url_pattern": "/x"}],
            }
        ],
    }
    translation = translate_document(parse_document(json.dumps(config), {}))
    assert translation is not None

    errors = {format_path(e.path): e.message for e in translation.errors}
    assert errors == {'$.endpoints[0].extra_config["validation/json-schema"]': "nested too deeply"}


class _App:
    def __init__(self) -> None:
        self.failures = 0

    def _reload_failed(self) -> None:
        self.failures += 1


def test_the_watch_survives_a_checker_failure(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # Before the fix an exception from the checker ended the watch task: later writes were never applied.
    path = tmp_path / "gateway.json"
    path.write_text('{"version": 3, "endpoints": []}')
    app = _App()
    reloader = GatewayReloader(app, str(path), {}, listen=("", 8080), interval=0.01)  # type: ignore[arg-type]
    checks: list[int] = []
    applied: list[object] = []

    def check() -> Any:
        checks.append(1)
        if len(checks) == 1:
            raise RuntimeError("checker bug")
        return check_gateway(str(path), {})

    reloader.check = check  # type: ignore[method-assign]
    reloader.apply = applied.append  # type: ignore[method-assign,assignment]

    async def run() -> None:
        watch = asyncio.ensure_future(reloader.run())
        try:
            for text in ('{"version": 3, "endpoints": [], "name": "a"}', '{"version": 3, "endpoints": []}'):
                await asyncio.sleep(0.05)
                path.write_text(text)
                async with asyncio.timeout(5):
                    while len(checks) < (1 if text.endswith('"a"}') else 2):
                        await asyncio.sleep(0.01)
            async with asyncio.timeout(5):
                while not applied:
                    await asyncio.sleep(0.01)
        finally:
            watch.cancel()

    with caplog.at_level(logging.ERROR, logger="hanzo_edge.gateway"):
        asyncio.run(run())
    assert "checker bug" in caplog.text
    assert app.failures == 1
    assert len(applied) == 1


def test_the_gateway_provider_survives_a_checker_failure(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # Before the fix an exception from the translation escaped load() and ended the provider's watch.
    from hanzo_edge.providers.gateway_provider import GatewayProvider

    path = tmp_path / "gateway.json"
    path.write_text('{"version": 3, "endpoints": []}')
    failures: list[int] = []
    provider = GatewayProvider(str(path), env={}, on_failure=lambda: failures.append(1))

    def broken() -> Any:
        raise RuntimeError("checker bug")

    provider.read = broken  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="hanzo_edge.providers.gateway"):
        assert provider.load() is None
    assert "checker bug" in caplog.text
    assert failures == [1]
