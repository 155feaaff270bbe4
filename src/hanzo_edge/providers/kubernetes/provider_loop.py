"""The watch → translate → configuration loop both Kubernetes providers run.

The Ingress and CRD providers differ in what they watch, how they translate and what they do after a
translation (the Ingress provider writes statuses); the loop around that is the same and lives here once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable

from hanzo_edge.config.dynamic import Configuration
from hanzo_edge.providers.kubernetes.ingress_translate import Snapshot, Translation
from hanzo_edge.providers.kubernetes.watch import ClusterWatcher, unsynced_message

__all__ = ["translated_configurations"]

logger = logging.getLogger("hanzo_edge.providers.kubernetes")


async def translated_configurations(
    watcher: ClusterWatcher,
    translate: Callable[[Snapshot], Translation],
    accept: Callable[[Translation, Snapshot, float], None],
    translated_before: Callable[[], bool],
    *,
    label: str,
    failure: str,
    initial_timeout: float,
) -> AsyncIterator[Configuration]:
    """Yield one configuration per cluster snapshot.

    An incomplete snapshot (the initial lists timed out) yields an empty configuration; ``accept`` gets each
    translation, the objects it came from and how long it took, before its configuration is yielded.
    ``label`` names the provider in the unsynced warning, ``failure`` is logged when the translation raises.
    """
    async for snapshot in watcher.snapshots():
        if not snapshot.complete:
            logger.warning("kubernetes: %s: %s", label, unsynced_message(snapshot, initial_timeout))
            yield Configuration()
            continue
        objects = {resource.plural: snapshot.objects(resource) for resource in snapshot.resources}
        started = time.perf_counter()
        try:
            translation = translate(objects)
        except Exception:
            # A bug in the translation must not end the provider: the last configuration keeps serving and the
            # next snapshot is tried again.
            logger.exception(failure)
            if not translated_before():
                # Nothing yielded yet, and the process starts only once every provider gave a first
                # configuration: give an empty one rather than hold everything up until the next change.
                yield Configuration()
            continue
        accept(translation, objects, time.perf_counter() - started)
        yield translation.config
