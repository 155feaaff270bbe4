"""List, then watch, every resource a provider reads, and keep the `ClusterCache` equal to the API server.

One task per (resource, namespace) partition (cluster-wide when the provider watches every namespace, and always
for cluster-scoped resources such as IngressClasses and Nodes) runs client-go's reflector loop:

* **list** (the partition is replaced, the list's resourceVersion kept), then **watch** from that version with
  ``allowWatchBookmarks=true`` and a ``timeoutSeconds`` drawn in [watch_timeout, 2·watch_timeout) so watches do not
  all end together; BOOKMARK events only move the version on;
* a watch the server ends (its timeout) is watched again from the last version: no list;
* a **cut stream or a refused connection** is retried from the last version after a jittered, capped exponential
  backoff (`Backoff`, on the injected clock and random source); a watch that ran for ``reset_after`` seconds
  resets it. No list, unless the server answers 410;
* **410 Expired** (the version is older than the server's history, e.g. after an API server restart): list again,
  at once the first time, after the backoff when the very next watch expires as well;
* **404 on the list** (the API group is absent: the Traefik CRDs are not installed): the partition is empty and
  counts as synced, so readiness never waits for it; logged once, listed again every ``absent_retry`` seconds;
* any other error (401, 403, 5xx): logged (once per distinct error, then at DEBUG) and retried with the backoff.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

from hanzo_edge.providers.kubernetes.cache import ClusterCache, ClusterSnapshot
from hanzo_edge.providers.kubernetes.client import KubeApiError, KubeClient, KubeTransportError
from hanzo_edge.providers.kubernetes.resources import Resource

__all__ = [
    "INITIAL_SYNC_TIMEOUT",
    "Backoff",
    "BackoffPolicy",
    "ClusterWatcher",
    "PartitionWatch",
    "WatchTarget",
    "unsynced_message",
]

logger = logging.getLogger("hanzo_edge.providers.kubernetes")

INITIAL_SYNC_TIMEOUT = 5.0
"""How long a provider waits for its initial lists before it yields an empty configuration: the process starts
once every provider yielded one, so an unreachable API server must not keep ping, the API and the other providers
from serving (Traefik starts its entrypoints without waiting for any provider)."""


def unsynced_message(snapshot: ClusterSnapshot, timeout: float) -> str:
    """The warning for an incomplete initial snapshot (see `INITIAL_SYNC_TIMEOUT`)."""
    names = ", ".join(sorted(str(resource) for resource in snapshot.unsynced))
    return (
        f"not listed within {timeout:g}s: {names}; serving no routes from this provider until the API server "
        "answers (retrying)"
    )


@dataclass(frozen=True, slots=True)
class WatchTarget:
    """A resource to keep: its label selector (e.g. the provider's ``labelSelector`` on Ingresses, or
    ``owner!=helm`` on Secrets and Services, as Traefik) and field selector."""

    resource: Resource
    label_selector: str | None = None
    field_selector: str | None = None


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """Retry delays: ``initial`` doubled (``factor``) per consecutive failure up to ``maximum``, each delay
    stretched by up to ``jitter`` of itself (random) but never beyond ``maximum``. client-go's reflector uses
    0.8 s → 30 s with full jitter; ours starts lower so a blip heals within the one-second promise."""

    initial: float = 0.25
    maximum: float = 30.0
    factor: float = 2.0
    jitter: float = 0.5
    reset_after: float = 60.0
    """A watch that stayed up this long resets the backoff."""
    absent_retry: float = 60.0
    """How often an absent API group is listed again."""


class Backoff:
    """Consecutive-failure delays for one watch (see `BackoffPolicy`); `rand` returns a float in [0, 1)."""

    def __init__(self, policy: BackoffPolicy, rand: Callable[[], float]) -> None:
        self.policy = policy
        self._rand = rand
        self.failures = 0

    def next_delay(self) -> float:
        policy = self.policy
        base = min(policy.maximum, policy.initial * policy.factor**self.failures)
        self.failures += 1
        return min(policy.maximum, base * (1.0 + policy.jitter * self._rand()))

    def reset(self) -> None:
        self.failures = 0


class PartitionWatch:
    """The reflector loop of one (resource, namespace) partition; see the module docstring."""

    def __init__(
        self,
        client: KubeClient,
        cache: ClusterCache,
        target: WatchTarget,
        namespace: str,
        *,
        policy: BackoffPolicy,
        watch_timeout: int,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
        rand: Callable[[], float],
    ) -> None:
        self.client = client
        self.cache = cache
        self.target = target
        self.namespace = namespace
        self.policy = policy
        self.watch_timeout = watch_timeout
        self.clock = clock
        self.sleep = sleep
        self.rand = rand
        self.backoff = Backoff(policy, rand)
        self.lists = 0
        self.resource_version: str | None = None
        self._absent = False
        self._last_error = ""
        self._where = f"{target.resource}" + (f" in namespace {namespace}" if namespace else "")

    @property
    def last_error(self) -> str:
        """The error of this partition's last failed call ("" once a call succeeded again): what ``check`` says
        when the initial list never finished (its retry warnings are not printed there)."""
        return self._last_error

    def _log_failure(self, message: str, level: int = logging.WARNING) -> None:
        # The same error again and again (a long outage) is logged once, then at DEBUG.
        if message != self._last_error:
            logger.log(level, "kubernetes: %s: %s", self._where, message)
            self._last_error = message
        else:
            logger.debug("kubernetes: %s: %s", self._where, message)

    def _recovered(self) -> None:
        if self._last_error:
            logger.info("kubernetes: %s: connected again", self._where)
            self._last_error = ""

    async def _list(self) -> None:
        target = self.target
        self.lists += 1
        items, version = await self.client.list(
            target.resource, self.namespace or None, target.label_selector, target.field_selector
        )
        if self._absent:
            logger.info("kubernetes: %s: now served by the API server", self._where)
            self._absent = False
        self.cache.replace(target.resource, self.namespace, items)
        self.resource_version = version

    async def _watch(self) -> int:
        """Watch from the current version until the stream ends; returns the number of events seen."""
        target = self.target
        if self.resource_version is None:  # pragma: no cover - run() lists first
            return 0
        timeout = int(self.watch_timeout * (1.0 + self.rand()))
        events = 0
        async for event in self.client.watch(
            target.resource,
            self.resource_version,
            self.namespace or None,
            target.label_selector,
            target.field_selector,
            timeout_seconds=timeout,
        ):
            events += 1
            if event.type != "BOOKMARK":
                self.cache.apply(target.resource, self.namespace, event.type, event.object)
            self.resource_version = event.resource_version or self.resource_version
        return events

    async def run(self) -> None:
        expired_in_a_row = 0
        while True:
            try:
                if self.resource_version is None:
                    await self._list()
                    self._recovered()
                started = self.clock()
                events = await self._watch()
                self._recovered()
                expired_in_a_row = 0
                if self.clock() - started >= self.policy.reset_after:
                    self.backoff.reset()
                elif events == 0 and self.clock() - started < 1.0:
                    # A watch that ends at once with nothing in it is a failure, not a timeout: never spin.
                    await self.sleep(self.backoff.next_delay())
            except KubeApiError as exc:
                if exc.expired:
                    logger.info(
                        "kubernetes: %s: resourceVersion %s expired, listing again", self._where, self.resource_version
                    )
                    self.resource_version = None
                    expired_in_a_row += 1
                    if expired_in_a_row > 1:
                        await self.sleep(self.backoff.next_delay())
                elif exc.not_found:
                    if not self._absent:
                        logger.warning(
                            "kubernetes: %s: not served by the API server (%s); treated as empty, retried every %gs",
                            self._where,
                            exc.message or "404 Not Found",
                            self.policy.absent_retry,
                        )
                        self._absent = True
                    self.cache.mark_absent(self.target.resource, self.namespace)
                    self.resource_version = None
                    await self.sleep(self.policy.absent_retry)
                else:
                    self._log_failure(str(exc), logging.ERROR if exc.code in (401, 403) else logging.WARNING)
                    await self.sleep(self.backoff.next_delay())
            except KubeTransportError as exc:
                self._log_failure(str(exc))
                await self.sleep(self.backoff.next_delay())
            except Exception as exc:
                # A bug must not silently end this partition's watch (the cache would never change again).
                logger.exception("kubernetes: %s: unexpected error, retrying", self._where)
                self._last_error = repr(exc)
                self.resource_version = None
                await self.sleep(self.backoff.next_delay())


class ClusterWatcher:
    """Watch `targets` (in each of `namespaces`, or cluster-wide) and yield whole `ClusterSnapshot`s."""

    def __init__(
        self,
        client: KubeClient,
        targets: Sequence[WatchTarget],
        namespaces: Sequence[str] = (),
        *,
        throttle: float = 0.0,
        initial_timeout: float | None = None,
        policy: BackoffPolicy | None = None,
        watch_timeout: int = 300,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.client = client
        self.throttle = throttle
        self.initial_timeout = initial_timeout
        scopes = list(dict.fromkeys(namespaces)) or [""]
        partitions = [
            (target, scope) for target in targets for scope in (scopes if target.resource.namespaced else [""])
        ]
        self.cache = ClusterCache(((target.resource, scope) for target, scope in partitions), clock=clock, sleep=sleep)
        self.watches = [
            PartitionWatch(
                client,
                self.cache,
                target,
                scope,
                policy=policy or BackoffPolicy(),
                watch_timeout=watch_timeout,
                clock=clock,
                sleep=sleep,
                rand=rand,
            )
            for target, scope in partitions
        ]

    @property
    def lists(self) -> int:
        """How many list calls the watches made (bounded: one each at start, one per 410)."""
        return sum(watch.lists for watch in self.watches)

    async def snapshots(self) -> AsyncIterator[ClusterSnapshot]:
        """Start the watches and yield snapshots; closing the iterator (or cancelling) stops every watch."""
        tasks = [
            asyncio.create_task(watch.run(), name=f"kube-watch {watch.target.resource} {watch.namespace}")
            for watch in self.watches
        ]
        try:
            async for snapshot in self.cache.snapshots(self.throttle, self.initial_timeout):
                yield snapshot
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
