"""The objects the watches keep, and the whole-cluster snapshots the providers translate.

Each watch owns one *partition* of a resource: the whole cluster, or one namespace when the provider's
``namespaces`` option is set (one watch per namespace). A relist replaces its partition; watch events update it.
`ClusterCache.snapshots` yields immutable `ClusterSnapshot`s:

* the first only once every partition's initial list succeeded, or found its API group absent (readiness); when
  ``initial_timeout`` passes first (the API server unreachable, a list refused by RBAC), an *incomplete* snapshot
  is yielded instead, so the process serves its other providers meanwhile, then the whole one once ready;
* then one per burst of changes: the first change after a quiet period is yielded at once, later ones wait until
  ``max(throttle, MIN_INTERVAL)`` has passed since the previous snapshot, so a deploy of 50 objects gives a handful
  of snapshots, not 50 (Traefik's ``throttleDuration``; the providers' watcher throttles again downstream);
* a relist or event that changes nothing (same resourceVersions) yields nothing.

Objects are the API server's JSON dicts, shared between snapshots: readers must never mutate them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from hanzo_edge.providers.kubernetes.resources import Resource

__all__ = ["MIN_INTERVAL", "ClusterCache", "ClusterSnapshot", "ObjectKey", "object_key"]

JSONObject = dict[str, Any]
ObjectKey = tuple[str, str]
"""(namespace, name); namespace is "" for cluster-scoped objects."""

MIN_INTERVAL = 0.05
"""The shortest time between two snapshots even with ``throttleDuration`` 0: long enough to gather a burst of
watch events into one snapshot, short against the one-second promise from an EndpointSlice change to traffic."""

_EMPTY: Mapping[ObjectKey, JSONObject] = MappingProxyType({})


def object_key(obj: Mapping[str, Any]) -> ObjectKey:
    metadata = obj.get("metadata") or {}
    return (str(metadata.get("namespace") or ""), str(metadata.get("name") or ""))


def _version(obj: Mapping[str, Any]) -> str:
    metadata = obj.get("metadata") or {}
    return str(metadata.get("resourceVersion") or "")


@dataclass(frozen=True, slots=True)
class ClusterSnapshot:
    """The watched objects at one moment: resource → {(namespace, name): object}.

    ``generations[resource]`` changes whenever that resource's objects changed, so a translator may keep work
    done for an unchanged resource; ``absent`` lists the resources whose API group the server does not serve.
    """

    resources: Mapping[Resource, Mapping[ObjectKey, JSONObject]]
    generations: Mapping[Resource, int]
    absent: frozenset[Resource] = frozenset()
    unsynced: frozenset[Resource] = frozenset()
    """Resources not listed yet: not empty only in the snapshot yielded when ``initial_timeout`` passed."""

    @property
    def complete(self) -> bool:
        return not self.unsynced

    def objects(self, resource: Resource) -> Mapping[ObjectKey, JSONObject]:
        return self.resources.get(resource, _EMPTY)

    def get(self, resource: Resource, namespace: str, name: str) -> JSONObject | None:
        return self.objects(resource).get((namespace if resource.namespaced else "", name))

    def __len__(self) -> int:
        return sum(len(objects) for objects in self.resources.values())


class ClusterCache:
    """Partitions of watched objects; see the module docstring."""

    def __init__(
        self,
        partitions: Iterable[tuple[Resource, str]],
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._partitions: dict[tuple[Resource, str], dict[ObjectKey, JSONObject]] = {p: {} for p in partitions}
        self._resources = list(dict.fromkeys(resource for resource, _ in self._partitions))
        self._unsynced = set(self._partitions)
        self._absent: set[tuple[Resource, str]] = set()
        self._generations: dict[Resource, int] = dict.fromkeys(self._resources, 0)
        self._views: dict[Resource, Mapping[ObjectKey, JSONObject]] = {}
        self._clock = clock
        self._sleep = sleep
        self._changed = asyncio.Event()
        self._ready = asyncio.Event()
        if not self._unsynced:
            self._ready.set()
            self._changed.set()

    @property
    def ready(self) -> bool:
        """Every partition has been listed (or found absent) at least once."""
        return self._ready.is_set()

    def _touch(self, resource: Resource) -> None:
        self._generations[resource] += 1
        self._views.pop(resource, None)
        if self._ready.is_set():
            self._changed.set()

    def _synced(self, partition: tuple[Resource, str]) -> None:
        if partition in self._unsynced:
            self._unsynced.discard(partition)
            if not self._unsynced:
                self._ready.set()
                self._changed.set()

    def replace(self, resource: Resource, scope: str, items: Iterable[JSONObject]) -> bool:
        """Replace a partition with a list's items; returns whether anything changed."""
        partition = (resource, scope)
        self._absent.discard(partition)
        fresh = {object_key(item): item for item in items}
        current = self._partitions[partition]
        changed = fresh.keys() != current.keys() or any(
            _version(obj) != _version(current[key]) for key, obj in fresh.items()
        )
        self._partitions[partition] = fresh
        if changed:
            self._touch(resource)
        self._synced(partition)
        return changed

    def mark_absent(self, resource: Resource, scope: str) -> bool:
        """The API server does not serve this resource: it is empty, and counts as synced for readiness."""
        partition = (resource, scope)
        self._absent.add(partition)
        changed = bool(self._partitions[partition])
        self._partitions[partition] = {}
        if changed:
            self._touch(resource)
        self._synced(partition)
        return changed

    def apply(self, resource: Resource, scope: str, event_type: str, obj: JSONObject) -> bool:
        """Apply one watch event (``ADDED``/``MODIFIED``/``DELETED``); returns whether anything changed."""
        objects = self._partitions[(resource, scope)]
        key = object_key(obj)
        if event_type == "DELETED":
            if objects.pop(key, None) is None:
                return False
        else:
            previous = objects.get(key)
            if previous is not None and _version(previous) == _version(obj) and _version(obj):
                return False
            objects[key] = obj
        self._touch(resource)
        return True

    def objects(self, resource: Resource) -> Mapping[ObjectKey, JSONObject]:
        """The merged, read-only view of a resource's partitions (cached until it changes)."""
        view = self._views.get(resource)
        if view is None:
            merged: dict[ObjectKey, JSONObject] = {}
            for (owner, _), objects in self._partitions.items():
                if owner == resource:
                    merged.update(objects)
            view = self._views[resource] = MappingProxyType(merged)
        return view

    async def _ready_within(self, seconds: float) -> bool:
        """Wait for readiness at most ``seconds`` (on the injected sleep); return whether it came."""
        if self._ready.is_set():
            return True
        ready = asyncio.ensure_future(self._ready.wait())
        timer = asyncio.ensure_future(self._sleep(seconds))
        try:
            await asyncio.wait((ready, timer), return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
            timer.cancel()
        return self._ready.is_set()

    def snapshot(self) -> ClusterSnapshot:
        return ClusterSnapshot(
            resources=MappingProxyType({resource: self.objects(resource) for resource in self._resources}),
            generations=MappingProxyType(dict(self._generations)),
            absent=frozenset(
                resource
                for resource in self._resources
                if all((resource, scope) in self._absent for (owner, scope) in self._partitions if owner == resource)
            ),
        )

    async def snapshots(
        self, throttle: float = 0.0, initial_timeout: float | None = None
    ) -> AsyncIterator[ClusterSnapshot]:
        """Yield a snapshot once ready, then one per burst of changes (see the module docstring)."""
        interval = max(throttle, MIN_INTERVAL)
        if initial_timeout is not None and not await self._ready_within(initial_timeout):
            unsynced = frozenset(resource for resource, _ in self._unsynced)
            yield dataclasses.replace(self.snapshot(), unsynced=unsynced)
        await self._ready.wait()
        last: float | None = None
        while True:
            if last is not None:
                pause = last + interval - self._clock()
                if pause > 0:
                    await self._sleep(pause)
            await self._changed.wait()
            self._changed.clear()
            last = self._clock()
            yield self.snapshot()
