"""The list+watch loop against the fake API server: cut streams, 410, refused connections, absent CRDs, throttle.

Backoff and throttle waits run on a FakeClock (the test moves time); the sockets are real. After each failure the
cache must equal the server's state, and the list calls stay bounded (none after a cut, one per partition after a
lost history).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from fakes import FakeClock
from hanzo_edge.providers.kubernetes.cache import MIN_INTERVAL, ClusterSnapshot
from hanzo_edge.providers.kubernetes.client import KubeClient
from hanzo_edge.providers.kubernetes.kubeconfig import from_flags
from hanzo_edge.providers.kubernetes.resources import (
    INGRESS_CLASSES,
    INGRESS_ROUTES,
    INGRESSES,
    SERVICES,
    Resource,
)
from hanzo_edge.providers.kubernetes.watch import Backoff, BackoffPolicy, ClusterWatcher, WatchTarget
from kube_apiserver import FakeApiServer

TOKEN = "watch-token"


def run_async(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test body on a fresh event loop, bounded so a hang fails instead of blocking the suite."""

    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        async def bounded() -> None:
            await asyncio.wait_for(test(*args, **kwargs), 60)

        asyncio.run(bounded())

    return wrapper


def ingress(
    name: str, namespace: str = "hanzo", labels: dict[str, str] | None = None, host: str = "a.test"
) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "spec": {"ingressClassName": "hanzo-ingress", "rules": [{"host": host}]},
    }


def service(name: str, namespace: str = "hanzo") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"ports": [{"name": "http", "port": 80}]},
    }


INGRESS_CLASS = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "IngressClass",
    "metadata": {"name": "hanzo-ingress"},
    "spec": {"controller": "traefik.io/ingress-controller"},
}


def versions(objects: dict[tuple[str, str], dict[str, Any]] | Any) -> dict[tuple[str, str], str]:
    return {key: obj["metadata"]["resourceVersion"] for key, obj in objects.items()}


@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    with FakeApiServer(token=TOKEN) as server:
        server.create(INGRESS_CLASS)
        server.create(ingress("first"))
        server.create(service("web"))
        yield server


class Harness:
    """A ClusterWatcher on a fake clock, its snapshots collected by a task."""

    def __init__(
        self,
        api: FakeApiServer,
        targets: list[WatchTarget],
        namespaces: tuple[str, ...] = (),
        throttle: float = 0.0,
    ) -> None:
        self.api = api
        self.namespaces = namespaces
        self.clock = FakeClock(0.0)
        self.client = KubeClient(from_flags(api.url, TOKEN), request_timeout=10)
        self.policy = BackoffPolicy(initial=0.5, maximum=4.0, jitter=0.5, absent_retry=30.0)
        self.watcher = ClusterWatcher(
            self.client,
            targets,
            namespaces,
            throttle=throttle,
            policy=self.policy,
            watch_timeout=600,
            clock=self.clock,
            sleep=self.clock.sleep,
            rand=lambda: 0.5,
        )
        self.snapshots: list[ClusterSnapshot] = []
        self._iterator: AsyncIterator[ClusterSnapshot] = self.watcher.snapshots()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Harness:
        async def collect() -> None:
            async for snapshot in self._iterator:
                self.snapshots.append(snapshot)

        self._task = asyncio.create_task(collect())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._iterator.aclose()  # type: ignore[attr-defined]
        await self.client.close()

    async def until(self, predicate: Callable[[], bool], what: str, step: float = 0.0, limit: float = 10.0) -> None:
        """Poll `predicate` (real time, bounded); each round moves the fake clock by `step` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while not predicate():
            if loop.time() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            if step:
                self.clock.advance(step)
            await asyncio.sleep(0.01)

    def latest(self) -> ClusterSnapshot | None:
        return self.snapshots[-1] if self.snapshots else None

    def converged(self, *resources: Resource) -> bool:
        """The latest snapshot holds exactly the server's objects in the watched namespaces (by resourceVersion)."""
        snapshot = self.latest()
        if snapshot is None:
            return False
        return all(versions(snapshot.objects(r)) == versions(self.server_objects(r)) for r in resources)

    def server_objects(self, resource: Resource) -> dict[tuple[str, str], dict[str, Any]]:
        objects = self.api.objects(resource)
        if not self.namespaces or not resource.namespaced:
            return objects
        return {key: obj for key, obj in objects.items() if key[0] in self.namespaces}


CORE_TARGETS = [
    WatchTarget(INGRESSES),
    WatchTarget(INGRESS_CLASSES),
    WatchTarget(SERVICES, label_selector="owner!=helm"),
]
CORE = (INGRESSES, INGRESS_CLASSES, SERVICES)


@run_async
async def test_first_snapshot_once_every_list_succeeded(api: FakeApiServer) -> None:
    async with Harness(api, CORE_TARGETS) as h:
        await h.until(lambda: bool(h.snapshots), "the first snapshot")
        assert h.converged(*CORE)
        assert len(h.latest() or ()) == 3
        assert h.watcher.lists == 3
        assert [api.list_calls(r) for r in CORE] == [1, 1, 1]
        await h.until(lambda: api.watch_count() == 3, "three watches")


@run_async
async def test_events_reach_the_snapshot_and_services_skip_helm(api: FakeApiServer) -> None:
    async with Harness(api, CORE_TARGETS) as h:
        await h.until(lambda: api.watch_count() == 3, "three watches")
        api.create(ingress("second"))
        helm = service("charted")
        helm["metadata"]["labels"] = {"owner": "helm"}
        api.create(helm)
        api.delete(INGRESSES, "hanzo", "first")
        await h.until(lambda: h.converged(INGRESSES), "the changes", step=MIN_INTERVAL)
        snapshot = h.latest()
        assert snapshot is not None
        assert set(snapshot.objects(INGRESSES)) == {("hanzo", "second")}
        assert set(snapshot.objects(SERVICES)) == {("hanzo", "web")}
        assert snapshot.get(INGRESS_CLASSES, "ignored", "hanzo-ingress") is not None


@run_async
async def test_a_stream_cut_mid_event_resumes_from_the_last_version_without_a_list(api: FakeApiServer) -> None:
    async with Harness(api, CORE_TARGETS) as h:
        await h.until(lambda: api.watch_count() == 3, "three watches")
        for round_ in range(3):
            assert api.cut_watches() == 3
            api.create(ingress(f"during-cut-{round_}"))
            api.apply(service("web") | {"spec": {"ports": [{"name": "http", "port": 8000 + round_}]}})
            await h.until(lambda: h.converged(*CORE) and api.watch_count() == 3, "resumed watches", step=0.5)
        assert h.watcher.lists == 3, "a cut stream is watched again from its version, never listed"
        assert all(len(versions(s.objects(INGRESSES))) >= 1 for s in h.snapshots)


@run_async
async def test_410_expired_lists_again_once_per_partition(api: FakeApiServer) -> None:
    async with Harness(api, CORE_TARGETS) as h:
        await h.until(lambda: api.watch_count() == 3, "three watches")
        api.restart()  # connections dropped, watch history lost: the old versions are now too old
        api.create(ingress("after-restart"))
        await h.until(lambda: h.converged(*CORE) and api.watch_count() == 3, "the relist", step=0.5)
        assert h.watcher.lists == 6
        assert [api.list_calls(r) for r in CORE] == [2, 2, 2]


@run_async
async def test_refused_for_five_seconds_backs_off_then_converges(api: FakeApiServer) -> None:
    async with Harness(api, CORE_TARGETS) as h:
        await h.until(lambda: api.watch_count() == 3, "three watches")
        api.refuse(None, lose_history=True)
        start = h.clock()
        watch = h.watcher.watches[0]
        # Five fake seconds of refusal: each failed attempt sleeps a growing, capped delay (no busy loop).
        while h.clock() - start < 5.0:
            await h.until(lambda: h.clock.sleeping >= 1 and watch.backoff.failures >= 1, "a backoff sleep")
            h.clock.advance(0.25)
            await asyncio.sleep(0.01)
        delays = [d for d in h.clock.sleeps if d > MIN_INTERVAL]
        assert watch.backoff.failures <= 5, "at most a handful of attempts in five seconds"
        assert all(d <= h.policy.maximum for d in delays)
        assert delays[:3] == sorted(delays[:3])
        api.create(ingress("while-refused"))
        api.resume()
        await h.until(lambda: h.converged(*CORE) and api.watch_count() == 3, "reconnection", step=0.5)
        assert h.watcher.lists == 6, "one relist per partition, after the lost history's 410"


@run_async
async def test_an_absent_crd_group_never_blocks_readiness_and_is_logged_once(
    api: FakeApiServer, caplog: pytest.LogCaptureFixture
) -> None:
    api.crds = False
    targets = [*CORE_TARGETS, WatchTarget(INGRESS_ROUTES)]
    with caplog.at_level(logging.WARNING, "hanzo_edge.providers.kubernetes"):
        async with Harness(api, targets) as h:
            await h.until(lambda: bool(h.snapshots), "the first snapshot")
            snapshot = h.latest()
            assert snapshot is not None
            assert snapshot.absent == frozenset({INGRESS_ROUTES})
            assert dict(snapshot.objects(INGRESS_ROUTES)) == {}
            h.clock.advance(30.0)  # the slow retry, still absent
            await h.until(lambda: api.list_calls(INGRESS_ROUTES) == 0 and h.clock.sleeping >= 1, "a retry")
            api.crds = True
            api.create(
                {
                    "apiVersion": "traefik.io/v1alpha1",
                    "kind": "IngressRoute",
                    "metadata": {"name": "r", "namespace": "hanzo"},
                    "spec": {"routes": [{"match": "Host(`r.test`)"}]},
                }
            )
            await h.until(lambda: h.converged(INGRESS_ROUTES, *CORE), "the CRD appearing", step=5.0)
            assert (h.latest() or snapshot).absent == frozenset()
    absent_logs = [r for r in caplog.records if "not served by the API server" in r.getMessage()]
    assert len(absent_logs) == 1


@run_async
async def test_namespaces_watch_one_partition_each_and_cluster_resources_once(api: FakeApiServer) -> None:
    api.create(ingress("a1", namespace="a"))
    api.create(ingress("b1", namespace="b"))
    api.create(ingress("c1", namespace="c"))
    async with Harness(api, CORE_TARGETS, namespaces=("a", "b")) as h:
        await h.until(lambda: bool(h.snapshots), "the first snapshot")
        await h.until(lambda: api.watch_count() == 5, "2 + 2 + 1 watches")
        assert api.watch_count(INGRESSES) == 2
        assert api.watch_count(INGRESS_CLASSES) == 1
        snapshot = h.latest()
        assert snapshot is not None
        assert set(snapshot.objects(INGRESSES)) == {("a", "a1"), ("b", "b1")}
        api.delete(INGRESSES, "a", "a1")
        api.create(ingress("c2", namespace="c"))
        api.create(ingress("b2", namespace="b"))
        await h.until(
            lambda: set((h.latest() or snapshot).objects(INGRESSES)) == {("b", "b1"), ("b", "b2")},
            "the namespace changes",
            step=MIN_INTERVAL,
        )


@run_async
async def test_an_object_leaving_the_label_selector_leaves_the_snapshot(api: FakeApiServer) -> None:
    api.create(ingress("labelled", labels={"edge": "yes"}))
    async with Harness(api, [WatchTarget(INGRESSES, label_selector="edge=yes")]) as h:
        await h.until(lambda: bool(h.snapshots), "the first snapshot")
        assert set((h.latest() or ClusterSnapshot({}, {})).objects(INGRESSES)) == {("hanzo", "labelled")}
        api.apply(ingress("labelled", labels={"edge": "no"}))
        api.apply(ingress("first", labels={"edge": "yes"}))
        await h.until(
            lambda: set((h.latest() or ClusterSnapshot({}, {})).objects(INGRESSES)) == {("hanzo", "first")},
            "the selector change",
            step=MIN_INTERVAL,
        )


@run_async
async def test_bookmarks_move_the_watch_version_on(api: FakeApiServer) -> None:
    async with Harness(api, [WatchTarget(INGRESSES)]) as h:
        await h.until(lambda: api.watch_count() == 1, "the watch")
        for number in range(3):
            api.create(service(f"other-{number}"))  # changes elsewhere move the global version
        api.send_bookmarks()
        target = str(api.resource_version)
        await h.until(lambda: h.watcher.watches[0].resource_version == target, "the bookmark")
        generations = h.watcher.cache.snapshot().generations[INGRESSES]
        api.compact(before=int(target))  # the ingress's own version is now too old; the bookmark's is not
        api.cut_watches()
        await h.until(lambda: api.watch_count() == 1, "the re-watch", step=0.5)
        assert h.watcher.lists == 1
        assert h.watcher.cache.snapshot().generations[INGRESSES] == generations


@run_async
async def test_a_burst_of_50_changes_gives_a_handful_of_snapshots(api: FakeApiServer) -> None:
    async with Harness(api, CORE_TARGETS) as h:
        await h.until(lambda: api.watch_count() == 3 and bool(h.snapshots), "ready")
        before = len(h.snapshots)
        for number in range(50):
            api.create(ingress(f"burst-{number}"))
        await h.until(lambda: len(h.watcher.cache.objects(INGRESSES)) == 51, "every event in the cache")
        await h.until(lambda: h.converged(INGRESSES), "the trailing snapshot", step=MIN_INTERVAL)
        assert 1 <= len(h.snapshots) - before <= 3


@run_async
async def test_throttle_duration_spaces_snapshots(api: FakeApiServer) -> None:
    async with Harness(api, CORE_TARGETS, throttle=2.0) as h:
        await h.until(lambda: api.watch_count() == 3 and bool(h.snapshots), "ready")
        h.clock.advance(5.0)  # a quiet period: the next change is applied at once
        await asyncio.sleep(0.01)
        api.create(ingress("one"))
        await h.until(lambda: len(h.snapshots) == 2, "the leading-edge snapshot")
        api.create(ingress("two"))
        await h.until(lambda: len(h.watcher.cache.objects(INGRESSES)) == 3, "the event in the cache")
        h.clock.advance(1.0)
        await asyncio.sleep(0.05)
        assert len(h.snapshots) == 2, "within throttleDuration of the last snapshot"
        h.clock.advance(1.0)
        await h.until(lambda: len(h.snapshots) == 3, "the throttled snapshot")
        assert h.converged(INGRESSES)


@run_async
async def test_a_relist_that_changes_nothing_yields_no_snapshot(api: FakeApiServer) -> None:
    async with Harness(api, CORE_TARGETS) as h:
        await h.until(lambda: api.watch_count() == 3 and bool(h.snapshots), "ready")
        count = len(h.snapshots)
        api.restart()
        await h.until(lambda: h.watcher.lists == 6 and api.watch_count() == 3, "the relists", step=0.5)
        h.clock.advance(1.0)
        await asyncio.sleep(0.05)
        assert len(h.snapshots) == count


@run_async
async def test_watches_ended_by_the_server_resume_without_a_list_and_never_spin(api: FakeApiServer) -> None:
    async with Harness(api, CORE_TARGETS) as h:
        await h.until(lambda: api.watch_count() == 3, "three watches")
        h.clock.advance(5.0)  # the watches have lived a while: a clean end is a timeout, watched again at once
        assert api.end_watches() == 3
        await h.until(lambda: api.watch_count() == 3, "the re-watches")
        assert [w.backoff.failures for w in h.watcher.watches] == [0, 0, 0]
        # Ended again at once, with nothing in them: that is no timeout, so each backs off instead of spinning.
        assert api.end_watches() == 3
        await h.until(lambda: all(w.backoff.failures == 1 for w in h.watcher.watches), "the backoff")
        assert api.watch_count() == 0
        api.create(ingress("later"))
        await h.until(lambda: h.converged(*CORE) and api.watch_count() == 3, "the re-watches", step=0.5)
        assert h.watcher.lists == 3
        watch_requests = sum(1 for method, target in api.requests if method == "GET" and "watch=true" in target)
        assert watch_requests == 9


# -- a state machine: any sequence of changes and failures converges ------------------------------------------


class WatchMachine(RuleBasedStateMachine):
    """Objects change while streams are cut, watches end, history is compacted and the server restarts; after
    every step the watcher's snapshot converges to the server's state, with a bounded number of lists."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.api = FakeApiServer(token=TOKEN).start()
        self.api.create(INGRESS_CLASS)
        self.history_losses = 0
        self.harness = Harness(self.api, CORE_TARGETS, namespaces=("a", "b"))
        self.loop.run_until_complete(self.harness.__aenter__())
        self.settle()

    def settle(self) -> None:
        harness = self.harness

        async def converge() -> None:
            await harness.until(
                lambda: harness.converged(*CORE) and self.api.watch_count() == 5, "convergence", step=0.5, limit=10
            )

        self.loop.run_until_complete(converge())

    @rule(name=st.sampled_from(["x", "y", "z"]), namespace=st.sampled_from(["a", "b", "c"]), host=st.integers(0, 3))
    def put_ingress(self, name: str, namespace: str, host: int) -> None:
        self.api.apply(ingress(name, namespace=namespace, host=f"h{host}.test"))

    @rule(name=st.sampled_from(["x", "y", "z"]), namespace=st.sampled_from(["a", "b"]))
    def delete_ingress(self, name: str, namespace: str) -> None:
        if self.api.get(INGRESSES, namespace, name) is not None:
            self.api.delete(INGRESSES, namespace, name)

    @rule(name=st.sampled_from(["s", "t"]), namespace=st.sampled_from(["a", "b"]))
    def put_service(self, name: str, namespace: str) -> None:
        self.api.apply(service(name, namespace=namespace) | {"spec": {"ports": [{"port": len(self.api.requests)}]}})

    @rule()
    def cut(self) -> None:
        self.api.cut_watches()

    @rule()
    def end(self) -> None:
        self.api.end_watches()

    @rule()
    def restart(self) -> None:
        self.api.restart()
        self.history_losses += 1

    @rule()
    def compact(self) -> None:
        self.api.compact()
        self.history_losses += 1

    @invariant()
    def converges_with_bounded_lists(self) -> None:
        self.settle()
        partitions = len(self.harness.watcher.watches)
        assert self.harness.watcher.lists <= partitions * (1 + self.history_losses)

    def teardown(self) -> None:
        self.loop.run_until_complete(self.harness.__aexit__(None, None, None))
        self.loop.close()
        self.api.stop()


WatchMachine.TestCase.settings = settings(
    max_examples=15, stateful_step_count=10, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
test_watch_state_machine = WatchMachine.TestCase


# -- backoff -------------------------------------------------------------------------------------------------


def test_backoff_doubles_up_to_the_cap_and_resets() -> None:
    backoff = Backoff(BackoffPolicy(initial=0.25, maximum=4.0, jitter=0.5), rand=lambda: 0.0)
    assert [backoff.next_delay() for _ in range(7)] == [0.25, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    backoff.reset()
    assert backoff.next_delay() == 0.25


@given(
    failures=st.integers(min_value=0, max_value=60),
    rand=st.floats(min_value=0.0, max_value=0.999999),
    jitter=st.floats(min_value=0.0, max_value=1.0),
)
def test_jittered_delays_stay_between_the_base_and_the_cap(failures: int, rand: float, jitter: float) -> None:
    policy = BackoffPolicy(initial=0.25, maximum=30.0, jitter=jitter)
    backoff = Backoff(policy, rand=lambda: rand)
    backoff.failures = failures
    base = min(policy.maximum, policy.initial * policy.factor**failures)
    delay = backoff.next_delay()
    assert base <= delay <= policy.maximum
    assert delay <= base * (1 + jitter) + 1e-9
