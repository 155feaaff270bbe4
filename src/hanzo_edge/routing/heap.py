"""Keep the routing tables out of the cyclic garbage collector's scans.

A generation of tables is ~15 container objects per router (routes, handlers, services, the configuration records):
with 10,000 routers that is ~170,000 objects, and every gen-2 pass of the cyclic collector walks all of them on the
event loop (30-50 ms each, a stall every request in flight waits for). None of them is garbage until the next swap, so
after each swap the live heap is moved to the permanent generation with :func:`gc.freeze`, where collections never
look.

What a reload costs here, measured with 10,000 routers (``benchmarks/reload_stall.py``):

* ``gc.freeze()`` is a list splice: nothing.
* No collection before the freeze: a sliced build runs with the collector paused from its first slice to here, so
  the young generations hold the whole build (the new runtime records, ~100,000 objects); even a gen-1 pass over
  them cost 25-40 ms. The little cyclic garbage the loop made meanwhile is frozen with them and left to the safety
  net below.
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
        gc.freeze()  # no collection first: see the module's notes
        if self._swaps % self.check_every:
            return
        frozen = gc.get_freeze_count()
        if frozen > self._baseline * (1.0 + self.growth):
            # Frozen objects are never examined: garbage cycles among them are found only after unfreezing.
            self._full_collection()
        else:
            # A smaller table lowers the bar, so the garbage allowed stays a quarter of what is live at most.
            self._baseline = min(self._baseline, frozen)

    @staticmethod
    def freeze_arrival() -> None:
        """Call when a provider's new snapshot arrives: freeze it as it is, before the build.

        A snapshot of 10,000 routers is ~100,000 new objects, loaded with the collector paused: left in the young
        generations they made the next gen-1 and gen-2 passes on the loop examine them all (10-35 ms each, measured
        with gc.callbacks). A parsed snapshot is a tree with no garbage cycles, so it is frozen without a collection;
        when it is replaced it is freed by reference counting like a retired generation.
        """
        gc.freeze()

    def _full_collection(self) -> None:
        gc.unfreeze()
        gc.collect()
        self.full_collections += 1
        gc.freeze()
        self._baseline = gc.get_freeze_count()
