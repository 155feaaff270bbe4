"""``examples/tcp`` is a configuration ``ingress check`` accepts as it is (no errors, no warnings)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from edge_harness import INGRESS, clean_env

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_the_tcp_example_checks_clean() -> None:
    done = subprocess.run(
        [INGRESS, "check", "--configFile=examples/tcp/traefik.yml"],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "check: OK" in done.stdout + done.stderr
