"""Keep the routing tables out of the cyclic garbage collector's scans.

A generation of tables is ~15 container objects per router (routes, handlers, services, the configuration records):
with 10,000 routers that is ~170,000 objects, and every gen-2 pass of the cyclic collector walks all of them on the
event loop (30-50 ms each, a stall every request in flight waits for). None of them is garbage until the next swap, so
after each swap the live heap is moved to the permanent generation with :func:`gc.freeze`, where collections never
look.

What a reload costs here, measured with 10,000 routers (``benchmarks/reload_stall.py``):

* ``gc.freeze()`` is a list splice: nothing.
* A collection of the young generations (0 and 1) before the freeze, ~3 ms, keeps the cyclic garbage made since the
  last automatic collection (a build runs with the collector paused) out of the permanent generation. A full
  collection there would examine every unfrozen object (the new snapshot and runtime records, ~130,000): 25-40 ms.
* ``gc.get_freeze_count()`` walks the whole permanent list (~400,000 objects): 5-40 ms. It is no longer read on
  every reload.
* ``gc.unfreeze()`` + a full collection walks everything: 50-350 ms. A reload leaves no cyclic garbage among the
  frozen objects (measured: 0 objects found after each of several reloads; a retired generation is freed by reference
  counting at the swap), so the full pass is only a safety net: every :attr:`check_every` reloads the frozen count is
  read, and only when it has grown by ``growth`` since the last full collection is everything collected once.
"""

from __future__ import annotations

import gc

__all__ = ["FrozenHeap"]


class FrozenHeap:
    """Freeze the live heap after each routing swap; collect what was frozen once it has grown by ``growth``."""

    def __init__(self, growth: float = 0.25, check_every: int = 16) -> None:
        self.growth = growth
        self.check_every = check_every
        self._baseline: int | None = None  # frozen objects right after the last full collection
        self._swaps = 0
        self.full_collections = 0

    def after_swap(self) -> None:
        """Call once the new tables are in and the previous generation is released."""
        self._swaps += 1
        if self._baseline is None:
            # The first call: the start-up heap (imports, config loads) goes in clean.
            self._full_collection()
            return
        # The young generations only: recent cyclic garbage is not frozen; older one is the safety net's.
        gc.collect(1)
        gc.freeze()
        if self._swaps % self.check_every:
            return
        frozen = gc.get_freeze_count()
        if frozen > self._baseline * (1.0 + self.growth):
            # Frozen objects are never examined: garbage cycles among them are found only after unfreezing.
            self._full_collection()
        else:
            # A smaller table lowers the bar, so the garbage allowed stays a quarter of what is live at most.
            self._baseline = min(self._baseline, frozen)

    def _full_collection(self) -> None:
        gc.unfreeze()
        gc.collect()
        self.full_collections += 1
        gc.freeze()
        self._baseline = gc.get_freeze_count()
