"""Coverage-guided fuzzing of the downstream parser boundary with atheris (optional; not a dependency).

The invariant is the one the Hypothesis property ``tests/property/test_downstream_fuzz.py`` checks:
``edge_wire.check_downstream`` (``tests/protocol/edge_wire.py``): nothing escapes ``data_received``, every write is a
status line with an expected status, and after a 400/414/431/501 the connection is closed with nothing after it.

Usage::

    pip install atheris                                   # where a wheel exists for this Python
    python fuzz/downstream.py -max_total_time=600 fuzz/corpus/
    python fuzz/downstream.py --replay crash-1234 ...     # re-run saved inputs without atheris

The first byte of an input chooses how the rest is cut into reads, so chunk boundaries are explored too.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests" / "protocol")]


def split_input(data: bytes) -> list[bytes]:
    """Cut ``data[1:]`` into reads: one read when ``data[0]`` is odd, else reads of ``data[0] // 2 + 1`` bytes."""
    if len(data) < 2:
        return []
    seed, payload = data[0], data[1:]
    if seed % 2:
        return [payload]
    step = seed // 2 + 1
    return [payload[i : i + step] for i in range(0, len(payload), step)]


def make_target() -> Callable[[bytes], None]:
    from edge_wire import check_downstream

    def test_one_input(data: bytes) -> None:
        check_downstream(split_input(data))

    return test_one_input


def main(argv: list[str]) -> int:
    if argv[1:2] == ["--replay"]:
        target = make_target()
        for name in argv[2:]:
            target(Path(name).read_bytes())
            print(f"ok {name}")
        return 0
    try:
        import atheris  # type: ignore[import-not-found]
    except ImportError:
        print("atheris is not installed: use --replay FILE... or the Hypothesis property", file=sys.stderr)
        return 2
    with atheris.instrument_imports():
        target = make_target()
    atheris.Setup(argv, target)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
