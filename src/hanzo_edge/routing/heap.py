"""Keep the routing tables out of the cyclic garbage collector's scans.

A generation of tables is ~15 container objects per router (routes, handlers, services, the configuration records):
with 10,000 routers that is ~170,000 objects, and every gen-2 pass of the cyclic collector walks all of them on the
event loop (30-50 ms each, a stall every request in flight waits for). None of them is garbage until the next swap, so
after each swap the live heap is moved to the permanent generation with :func:`gc.freeze`, where collections never
look. Reference counting still frees a retired generation the moment the last request drops it; only *cyclic* garbage
that was frozen stays until it is unfrozen, so when the frozen set has grown by a quarter since the last full
collection (CPython's own rule for gen 2) everything is unfrozen, collected once and frozen again: memory stays
bounded and the full pass is paid once per 25% of growth, not on every reload.
"""

from __future__ import annotations

import gc

__all__ = ["FrozenHeap"]


class FrozenHeap:
    """Freeze the live heap after each routing swap; collect what was frozen once it has grown by ``growth``."""

    def __init__(self, growth: float = 0.25) -> None:
        self.growth = growth
        self._baseline: int | None = None  # frozen objects right after the last full collection
        self.full_collections = 0

    def after_swap(self) -> None:
        """Call once the new tables are in and the previous generation is released."""
        # Mostly the new tables: the retired generation was freed by reference counting at the swap.
        gc.freeze()
        frozen = gc.get_freeze_count()
        if self._baseline is None or frozen > self._baseline * (1.0 + self.growth):
            # Frozen objects are never examined: garbage cycles among them (a retired generation's) are found only
            # after unfreezing. Also the first call: the start-up heap (imports, config loads) goes in clean.
            gc.unfreeze()
            gc.collect()
            self.full_collections += 1
            gc.freeze()
            self._baseline = gc.get_freeze_count()
        else:
            # A smaller table lowers the bar, so the garbage allowed stays a quarter of what is live at most.
            self._baseline = min(self._baseline, frozen)
