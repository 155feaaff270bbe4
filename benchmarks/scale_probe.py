"""Run ``ingress`` in this process with in-process probes of event-loop stalls (issue 22, 10,000 routers).

``python benchmarks/scale_probe.py OUT.json -- <ingress arguments>`` serves exactly as ``ingress <arguments>`` and,
when the process stops (SIGTERM: the ingress drains and returns), writes ``OUT.json`` with:

* ``gc``: every cyclic-collector pass seen through ``gc.callbacks`` (generation, duration in ms, objects collected),
  summed per generation, with the longest pass of each;
* ``ticker``: a ``loop.call_later`` ticker re-armed every ``TICK`` seconds; the lateness of each tick is how long
  the loop was held by something else (a request burst, a collection, a periodic walk). Its maximum and a
  histogram say whether the loop has stalls that are not request work;
* SIGUSR2 starts the measured window (the harness sends it once the ingress serves, so start-up is left out);
* ``PROBE_UNFREEZE=1`` unfreezes the heap at that signal: what the collector costs without ``routing/heap.py``;
* ``PROBE_COLLECT_AT=S`` runs one full collection on the loop S seconds into the window (what a gen-2 pass costs);
* ``rss``: VmRSS/VmHWM at the end, in KiB.

Used by ``benchmarks/scale_routers.py``; it wraps ``uvloop.run`` only in this harness process so the ticker starts
on the ingress's own loop; the product is not changed.
"""

from __future__ import annotations

import asyncio
import atexit
import gc
import json
import os
import signal
import sys
import time
from collections.abc import Coroutine
from typing import Any

TICK = 0.002
BUCKETS = ((1.0, "<1ms"), (5.0, "1-5ms"), (10.0, "5-10ms"), (50.0, "10-50ms"), (float("inf"), ">=50ms"))


class Probe:
    """Collector passes and loop lateness, recorded with nothing allocated per event beyond a float or two."""

    def __init__(self) -> None:
        self.gc_passes: list[tuple[int, float, int, float]] = []
        self.startup_gc: list[tuple[int, float, int, float]] = []
        self.startup_max_late_ms = 0.0
        self._gc_start = 0.0
        self.lateness: list[float] = []
        self._due = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self.started = time.perf_counter()

    def reset(self) -> None:
        """SIGUSR2 (the harness, once the ingress serves): start the steady-state window, forget start-up."""
        now = time.perf_counter()
        # Start-up's passes and stalls over 1 ms are kept, timed from this mark (negative: before the first answer).
        self.startup_gc = [(g, ms, c, round(t - now, 3)) for g, ms, c, t in self.gc_passes if ms > 1.0]
        self.startup_max_late_ms = max(self.lateness, default=0.0)
        self.gc_passes.clear()
        self.lateness.clear()
        self.started = now
        if os.environ.get("PROBE_UNFREEZE") == "1":
            # The counterfactual "before": the routing tables back in the collector's view, as without gc.freeze().
            gc.unfreeze()
        collect_at = float(os.environ.get("PROBE_COLLECT_AT", "0") or 0)
        if collect_at > 0 and self._loop is not None:
            # One full pass on the loop, as the collector's own gen-2 trigger would run it: what it costs per table.
            self._loop.call_later(collect_at, gc.collect)

    def on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
        else:
            now = time.perf_counter()
            self.gc_passes.append((info["generation"], (now - self._gc_start) * 1e3, info.get("collected", 0), now))

    def start_ticker(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._due = time.perf_counter() + TICK
        loop.call_later(TICK, self._tick)

    def _tick(self) -> None:
        loop = self._loop
        if loop is None:
            return
        now = time.perf_counter()  # the loop's clock has 1 ms steps
        self.lateness.append((now - self._due) * 1e3)
        self._due = now + TICK
        loop.call_later(TICK, self._tick)

    def report(self) -> dict[str, Any]:
        per_gen: dict[int, dict[str, float]] = {}
        for gen, ms, collected, _ in self.gc_passes:
            row = per_gen.setdefault(gen, {"passes": 0, "total_ms": 0.0, "max_ms": 0.0, "collected": 0})
            row["passes"] += 1
            row["total_ms"] += ms
            row["max_ms"] = max(row["max_ms"], ms)
            row["collected"] += collected
        late = sorted(self.lateness)
        buckets = dict.fromkeys((label for _, label in BUCKETS), 0)
        for ms in late:
            key = (
                "<1ms" if ms < 1 else "1-5ms" if ms < 5 else "5-10ms" if ms < 10 else "10-50ms" if ms < 50 else ">=50ms"
            )
            buckets[key] += 1
        rss = {}
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(("VmRSS", "VmHWM")):
                    rss[line.split(":")[0]] = int(line.split()[1])
        worst = sorted(self.gc_passes, key=lambda p: -p[1])[:10]
        startup = [
            {"generation": g, "ms": round(ms, 1), "collected": c, "at_s": at} for g, ms, c, at in self.startup_gc
        ]
        return {
            "gc": {str(k): v for k, v in sorted(per_gen.items())},
            "gc_worst": [{"generation": g, "ms": round(ms, 3), "collected": c} for g, ms, c, _ in worst],
            "startup": {"gc_over_1ms": startup, "max_late_ms": round(self.startup_max_late_ms, 1)},
            "ticker": {
                "ticks": len(late),
                "max_late_ms": round(late[-1], 3) if late else 0.0,
                "p99_late_ms": round(late[int(len(late) * 0.99)], 3) if late else 0.0,
                "p999_late_ms": round(late[int(len(late) * 0.999)], 3) if late else 0.0,
                "histogram": buckets,
                "worst": [round(x, 3) for x in late[-10:]],
            },
            "rss_kib": rss,
            "frozen_objects": gc.get_freeze_count(),
            "tracked_objects": len(gc.get_objects()),
            "seconds": round(time.perf_counter() - self.started, 3),
        }


def main() -> int:
    out = sys.argv[1]
    argv = sys.argv[sys.argv.index("--") + 1 :]
    probe = Probe()
    gc.callbacks.append(probe.on_gc)

    import uvloop

    original_run = uvloop.run

    def run_with_ticker(main: Coroutine[Any, Any, int], **kwargs: Any) -> int:
        async def wrapped() -> int:
            loop = asyncio.get_running_loop()
            probe.start_ticker(loop)
            loop.add_signal_handler(signal.SIGUSR2, probe.reset)
            return await main

        return original_run(wrapped(), **kwargs)

    uvloop.run = run_with_ticker  # type: ignore[assignment]

    def dump() -> None:
        with open(out, "w") as fh:
            json.dump(probe.report(), fh, indent=1)

    atexit.register(dump)
    from hanzo_edge.cli import ingress_main

    return ingress_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
