"""Where dockerd cannot start the engine tests are skipped with the reason, and with CI=true they fail instead
(docker_engine.engine_or_skip, run with a PATH that has no dockerd)."""

from __future__ import annotations

from pathlib import Path

import pytest
from docker_engine import engine_or_skip


def test_no_engine_skips_with_the_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="dockerd is not installed"):
        next(engine_or_skip())


def test_no_engine_fails_under_ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"CI=true: engine tests must run"):
        next(engine_or_skip())
