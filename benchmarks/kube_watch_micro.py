"""The Kubernetes watch machinery alone: list cost, change -> snapshot latency, cache memory.

Against the fake API server (``tests/kube_apiserver.py``, validated with kubectl; not a real Kubernetes) running in
a thread of this process, holding ``--ingresses`` Ingresses and ``--slices`` EndpointSlices:

* **list**: one ``KubeClient.list`` of every EndpointSlice (HTTP + JSON decode), best and median of ``--lists``;
* **initial sync**: a ``ClusterWatcher`` over Ingresses, Services and EndpointSlices until its first snapshot;
* **change -> snapshot**, ``--changes`` times, ``--spacing`` s apart: one EndpointSlice is replaced and the time
  until a snapshot holds the new version is measured (p50/p99). This is the watch's share of HIP-68's one-second
  promise; ``benchmarks/kube_bench.py`` measures the whole path to traffic through the real CLI;
* **memory**: the Python heap the cache holds (tracemalloc), and this process's RSS.

Run on a quiet machine: ``python benchmarks/kube_watch_micro.py`` (2,000 Ingresses, 5,000 slices, 50 changes).
Smoke: ``python benchmarks/kube_watch_micro.py --ingresses 50 --slices 100 --changes 5 --lists 2``.
``--json FILE`` writes the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from hanzo_edge.providers.kubernetes.client import KubeClient  # noqa: E402
from hanzo_edge.providers.kubernetes.kubeconfig import from_flags  # noqa: E402
from hanzo_edge.providers.kubernetes.resources import ENDPOINT_SLICES, INGRESSES, SERVICES  # noqa: E402
from hanzo_edge.providers.kubernetes.watch import ClusterWatcher, WatchTarget  # noqa: E402
from kube_apiserver import FakeApiServer  # noqa: E402

TOKEN = "bench-token"
NAMESPACES = 20


def slice_object(number: int, services: int, pod: int) -> dict[str, Any]:
    service = number % services
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"svc-{service}-{number}",
            "namespace": f"ns-{service % NAMESPACES}",
            "labels": {"kubernetes.io/service-name": f"svc-{service}"},
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [
            {"addresses": [f"127.0.1.{pod % 250 + 1}"], "conditions": {"ready": True, "serving": True}},
            {"addresses": [f"127.0.1.{(pod + 1) % 250 + 1}"], "conditions": {"ready": True, "serving": True}},
        ],
    }


def populate(api: FakeApiServer, ingresses: int, slices: int) -> None:
    for number in range(ingresses):
        namespace = f"ns-{number % NAMESPACES}"
        api.create(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": f"svc-{number}", "namespace": namespace},
                "spec": {"ports": [{"name": "http", "port": 80}]},
            }
        )
        api.create(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "Ingress",
                "metadata": {"name": f"ing-{number}", "namespace": namespace},
                "spec": {
                    "ingressClassName": "hanzo-ingress",
                    "rules": [
                        {
                            "host": f"app-{number}.bench.test",
                            "http": {
                                "paths": [
                                    {
                                        "path": "/",
                                        "pathType": "Prefix",
                                        "backend": {"service": {"name": f"svc-{number}", "port": {"name": "http"}}},
                                    }
                                ]
                            },
                        }
                    ],
                },
            }
        )
    for number in range(slices):
        api.create(slice_object(number, ingresses, number))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def measure(api: FakeApiServer, args: argparse.Namespace) -> dict[str, Any]:
    client = KubeClient(from_flags(api.url, TOKEN))
    figures: dict[str, Any] = {}
    try:
        durations = []
        for _ in range(args.lists):
            started = time.perf_counter()
            items, _ = await client.list(ENDPOINT_SLICES)
            durations.append(time.perf_counter() - started)
        figures["list_slices_items"] = len(items)
        figures["list_slices_best_ms"] = min(durations) * 1000
        figures["list_slices_median_ms"] = statistics.median(durations) * 1000

        tracemalloc.start()
        watcher = ClusterWatcher(client, [WatchTarget(INGRESSES), WatchTarget(SERVICES), WatchTarget(ENDPOINT_SLICES)])
        snapshots = watcher.snapshots()
        started = time.perf_counter()
        snapshot = await anext(snapshots)
        figures["initial_sync_ms"] = (time.perf_counter() - started) * 1000
        figures["snapshot_objects"] = len(snapshot)
        figures["cache_heap_mib"] = tracemalloc.get_traced_memory()[0] / 2**20
        tracemalloc.stop()

        latencies = []
        pending: asyncio.Task[Any] | None = None
        for change in range(args.changes):
            await asyncio.sleep(args.spacing)
            number = change % args.slices
            obj = slice_object(number, args.ingresses, number + 7 + change)
            key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
            started = time.perf_counter()
            stored = api.apply(obj)
            version = stored["metadata"]["resourceVersion"]
            while True:
                if pending is None:
                    pending = asyncio.ensure_future(anext(snapshots))
                snapshot = await asyncio.wait_for(pending, 10)
                pending = None
                current = snapshot.objects(ENDPOINT_SLICES).get(key)
                if current is not None and current["metadata"]["resourceVersion"] == version:
                    break
            latencies.append(time.perf_counter() - started)
        if latencies:
            figures["change_to_snapshot_p50_ms"] = percentile(latencies, 0.5) * 1000
            figures["change_to_snapshot_p99_ms"] = percentile(latencies, 0.99) * 1000
            figures["change_to_snapshot_max_ms"] = max(latencies) * 1000
        figures["lists_made"] = watcher.lists
        if pending is not None:
            pending.cancel()
        await snapshots.aclose()  # type: ignore[attr-defined]
    finally:
        await client.close()
    figures["rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--ingresses", type=int, default=2000)
    parser.add_argument("--slices", type=int, default=5000)
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--spacing", type=float, default=0.2, help="seconds between changes")
    parser.add_argument("--lists", type=int, default=5)
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args()
    with FakeApiServer(token=TOKEN) as api:
        started = time.perf_counter()
        populate(api, args.ingresses, args.slices)
        print(
            f"populated {args.ingresses} ingresses + services, {args.slices} slices in "
            f"{time.perf_counter() - started:.1f}s",
            flush=True,
        )
        try:
            import uvloop

            figures = uvloop.run(measure(api, args))
        except ImportError:
            figures = asyncio.run(measure(api, args))
    figures["parameters"] = {k: v for k, v in vars(args).items() if k != "json"}
    for name, value in figures.items():
        print(f"{name:32} {value:.2f}" if isinstance(value, float) else f"{name:32} {value}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
