"""SnapshotWatcher: dedupe, newest wins, providersThrottleDuration, failed applications; on a fake clock."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from fakes import FakeClock
from hanzo_edge.providers.watcher import SnapshotWatcher

THROTTLE = 2.0


class Source:
    """A provider's snapshots, pushed by the test; it never ends on its own, as a provider does not."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[str] = asyncio.Queue()

    def push(self, *snapshots: str) -> None:
        for snapshot in snapshots:
            self.queue.put_nowait(snapshot)

    async def snapshots(self) -> AsyncIterator[str]:
        while True:
            yield await self.queue.get()


async def settle() -> None:
    """Let every ready task run (bounded: the watcher never needs more than a few iterations)."""
    for _ in range(20):
        await asyncio.sleep(0)


class Harness:
    def __init__(self, throttle: float = THROTTLE, fail_on: str | None = None) -> None:
        self.clock = FakeClock(0.0)
        self.applied: list[tuple[float, str, str]] = []
        self.failures = 0
        self.fail_on = fail_on
        self.watcher: SnapshotWatcher[str] = SnapshotWatcher(
            self.apply, throttle, on_failure=self.failed, clock=self.clock, sleep=self.clock.sleep
        )

    def apply(self, provider: str, snapshot: str) -> None:
        if snapshot == self.fail_on:
            raise RuntimeError("build failed")
        self.applied.append((self.clock(), provider, snapshot))

    def failed(self) -> None:
        self.failures += 1

    def follow(self, provider: str, source: Source | AsyncIterator[str]) -> asyncio.Task[None]:
        snapshots = source.snapshots() if isinstance(source, Source) else source
        return asyncio.get_running_loop().create_task(self.watcher.follow(provider, snapshots))


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_first_change_applies_at_once_and_a_burst_collapses_into_its_newest() -> None:
    async def scenario() -> None:
        h, source = Harness(), Source()
        task = h.follow("file", source)
        source.push("a")
        await settle()
        assert h.applied == [(0.0, "file", "a")], "the first snapshot must not wait for the throttle"
        source.push("b", "c", "d")
        await settle()
        assert h.applied == [(0.0, "file", "a")]
        assert h.clock.sleeps == [THROTTLE]
        h.clock.advance(1.0)
        await settle()
        assert len(h.applied) == 1, "held back until the throttle interval has passed"
        h.clock.advance(1.0)
        await settle()
        assert h.applied == [(0.0, "file", "a"), (2.0, "file", "d")]
        # A quiet period later, the next change applies at once again.
        h.clock.advance(10.0)
        source.push("e")
        await settle()
        assert h.applied[-1] == (12.0, "file", "e")
        await stop(task)

    asyncio.run(scenario())


def test_an_unchanged_snapshot_is_dropped_without_taking_a_throttle_slot() -> None:
    async def scenario() -> None:
        h, source = Harness(), Source()
        snapshots = source.snapshots()
        source.push("a")
        assert await h.watcher.first("file", snapshots) == "a"
        task = h.follow("file", snapshots)  # as IngressApp.start does: the same iterator after its first snapshot
        source.push("a")
        await settle()
        assert h.applied == [], "the initial snapshot, yielded again, is dropped"
        source.push("b")
        await settle()
        assert h.applied == [(0.0, "file", "b")], "a dropped repeat did not start the throttle"
        assert h.watcher.latest == {"file": "b"}
        await stop(task)

    asyncio.run(scenario())


def test_a_failed_application_is_logged_counted_and_the_next_one_applies(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        h, source = Harness(fail_on="bad"), Source()
        task = h.follow("file", source)
        with caplog.at_level(logging.ERROR, "hanzo_edge"):
            source.push("bad")
            await settle()
        assert h.failures == 1
        assert "applying the file configuration failed; the previous one keeps serving" in caplog.text
        source.push("good")
        await settle()
        h.clock.advance(THROTTLE)
        await settle()
        assert h.applied == [(THROTTLE, "file", "good")], "a failure still spaces the next application"
        await stop(task)

    asyncio.run(scenario())


def test_each_provider_has_its_own_throttle() -> None:
    async def scenario() -> None:
        h, files, other = Harness(), Source(), Source()
        tasks = [h.follow("file", files), h.follow("other", other)]
        files.push("f1")
        other.push("o1")
        await settle()
        files.push("f2")
        await settle()
        other.push("o1")  # a repeat of its own previous snapshot, even though another provider changed since
        await settle()
        assert h.applied == [(0.0, "file", "f1"), (0.0, "other", "o1")]
        h.clock.advance(THROTTLE)
        await settle()
        assert h.applied[-1] == (THROTTLE, "file", "f2")
        for task in tasks:
            await stop(task)

    asyncio.run(scenario())


class WatcherMachine(RuleBasedStateMachine):
    """Arrivals and the passing of time in any order; after each step the loop has run until nothing is ready."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.h = Harness()
        self.source = Source()
        self.task = self.loop.run_until_complete(self._start())
        self.newest: str | None = None
        self.pending = False

    async def _start(self) -> asyncio.Task[None]:
        task = self.h.follow("p", self.source)
        await settle()
        return task

    def _settle(self) -> None:
        self.loop.run_until_complete(settle())

    def _since_last_apply(self) -> float:
        return self.h.clock() - self.h.applied[-1][0] if self.h.applied else float("inf")

    @rule(snapshot=st.sampled_from(["a", "b", "c"]))
    def arrive(self, snapshot: str) -> None:
        before = len(self.h.applied)
        changed = snapshot != self.newest
        quiet = not self.pending and self._since_last_apply() >= THROTTLE
        self.source.push(snapshot)
        self._settle()
        if not changed:
            assert len(self.h.applied) == before, "an unchanged snapshot is dropped"
            return
        self.newest = snapshot
        if quiet:
            assert self.h.applied[before:] == [(self.h.clock(), "p", snapshot)], "a change after quiet applies now"
            self.pending = False
        else:
            assert len(self.h.applied) == before, "a change within the throttle interval waits"
            self.pending = True

    @rule(seconds=st.integers(0, 5))
    def advance(self, seconds: int) -> None:
        due = self.pending and self._since_last_apply() + seconds >= THROTTLE
        before = len(self.h.applied)
        self.h.clock.advance(seconds)
        self._settle()
        if due:
            assert self.h.applied[before:] == [(self.h.clock(), "p", self.newest)], "the newest one applies when due"
            self.pending = False
        else:
            assert len(self.h.applied) == before

    @invariant()
    def applications_are_a_throttle_apart(self) -> None:
        times = [at for at, _, _ in self.h.applied]
        assert all(later - earlier >= THROTTLE for earlier, later in itertools.pairwise(times))

    @invariant()
    def settled_means_the_newest_is_applied_or_waiting(self) -> None:
        if self.pending:
            assert self.h.clock.sleeping == 1
        elif self.newest is not None:
            assert self.h.applied[-1][2] == self.newest

    def teardown(self) -> None:
        self.task.cancel()
        self.loop.run_until_complete(asyncio.gather(self.task, return_exceptions=True))
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()


WatcherMachine.TestCase.settings = settings(
    max_examples=60, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
test_watcher_state_machine = WatcherMachine.TestCase
