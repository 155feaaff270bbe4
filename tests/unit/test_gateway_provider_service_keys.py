"""Under ``ingress --providers.gateway.filename``, gateway.json's server/client keys are named, never dropped."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from hanzo_edge.providers.gateway_provider import GatewayProvider


def _write(path: Path, **service: object) -> str:
    doc = {
        "version": 3,
        **service,
        "endpoints": [{"endpoint": "/a", "backend": [{"host": ["http://127.0.0.1:19"], "url_pattern": "/a"}]}],
    }
    path.write_text(json.dumps(doc))
    return str(path)


def test_set_service_keys_are_named_as_not_applied(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    file = _write(tmp_path / "gateway.json", read_timeout="5s", max_shutdown_wait_time="2s")
    with caplog.at_level(logging.WARNING):
        snapshot, errors = GatewayProvider(file, env={}).read()
    assert errors == []
    assert snapshot is not None
    lines = [r.getMessage() for r in caplog.records if "not applied under ingress" in r.getMessage()]
    assert len(lines) == 1
    for word in ("read_timeout", "max_shutdown_wait_time", file):
        assert word in lines[0]


def test_no_warning_when_no_service_key_is_set(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    file = _write(tmp_path / "gateway.json")
    with caplog.at_level(logging.WARNING):
        snapshot, _ = GatewayProvider(file, env={}).read()
    assert snapshot is not None
    assert not [r for r in caplog.records if "service keys" in r.getMessage()]
