"""Review 3: glibc malloc thresholds (server/malloc_tuning.py) leave a user's own settings alone.

``GLIBC_TUNABLES`` is the current way to set glibc's malloc thresholds (the ``MALLOC_*_`` variables are its legacy
aliases): a threshold set there must not be overridden by our ``mallopt`` either.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys

import pytest

from hanzo_edge.server.malloc_tuning import tune_malloc

glibc_only = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not hasattr(ctypes.CDLL(None), "gnu_get_libc_version"),
    reason="glibc's mallopt only",
)


@pytest.mark.parametrize(
    "tunables",
    [
        "glibc.malloc.mmap_threshold=131072",
        "glibc.malloc.trim_threshold=131072",
        "glibc.malloc.arena_max=2:glibc.malloc.trim_threshold=0",
    ],
)
def test_thresholds_set_through_glibc_tunables_are_kept(tunables: str) -> None:
    assert tune_malloc({"GLIBC_TUNABLES": tunables}) is False


@glibc_only
def test_other_tunables_do_not_stop_the_tuning() -> None:
    # In a child process: mallopt changes the process it runs in.
    code = "from hanzo_edge.server.malloc_tuning import tune_malloc; print(tune_malloc())"
    env = {**os.environ, "GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}
    for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"):
        env.pop(name, None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "True"
