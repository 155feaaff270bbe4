"""server/malloc_tuning.py: relayed body buffers stay in the heap instead of being faulted in again per request."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from hanzo_edge.server.malloc_tuning import tune_malloc

glibc_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt")

# Allocate and free what relaying a 1 MiB body allocates (256,000-byte reads, a joined head + two reads), and count
# the page faults it costs: each fresh mmap or re-grown heap faults every page in again.
_PROBE = textwrap.dedent(
    """
    import resource, sys
    from hanzo_edge.server.malloc_tuning import tune_malloc
    tuned = tune_malloc() if sys.argv[1] == "tune" else False
    def relay():
        reads = [bytes(256_000) for _ in range(4)]
        joined = b"".join(reads[:2])
        del reads, joined
    for _ in range(20):
        relay()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(200):
        relay()
    print(tuned, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 200)
    """
)


def _faults_per_relay(mode: str) -> tuple[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, timeout=60, check=True, env={}
    ).stdout.split()
    return out[0], float(out[1])


@glibc_only
def test_tuned_process_reuses_freed_body_buffers() -> None:
    tuned, tuned_faults = _faults_per_relay("tune")
    untuned_flag, untuned_faults = _faults_per_relay("plain")
    assert tuned == "True"
    assert untuned_flag == "False"
    # Untuned, every relay faults its ~1.5 MiB in again (hundreds of pages); tuned, the heap keeps them.
    assert untuned_faults > 100
    assert tuned_faults < 5


def test_user_malloc_settings_are_kept() -> None:
    assert tune_malloc({"MALLOC_TRIM_THRESHOLD_": "131072"}) is False
    assert tune_malloc({"MALLOC_MMAP_THRESHOLD_": "131072"}) is False
