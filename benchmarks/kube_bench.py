"""KubernetesIngress at scale: EndpointSlice change -> traffic latency, rebuild time and RSS.

The fake API server (``tests/kube_apiserver.py``, validated with kubectl; not a real Kubernetes) holds
``--ingresses`` Ingresses (one host and one Service each, in 20 namespaces) and ``--slices`` EndpointSlices spread
over those Services, whose endpoints are ``--pods`` real HTTP servers on 127.0.1.N (one port, each answering with
its address). Then:

* **rebuild** (in this process, CPU only): the translation of the whole snapshot, cold and after one slice changed
  (decoded objects are reused), and ``build_tables`` of the result (cold, and with the previous generation);
* **startup**: ``ingress`` (the real CLI, the interface flags) from exec until the last Ingress routes;
* **change -> traffic**, ``--changes`` times, ``--spacing`` seconds apart (wider than the 0.5 s
  ``providersThrottleDuration``, which batches closer changes): one Service's first slice is replaced by a pod it
  did not have; the time until a request to its host is answered by that pod (polled every ms; its other slices
  keep their pods, so this is the new server taking traffic). p50/p99 (HIP-68: p99 < 1 s);
* **RSS** of the ``ingress`` process once loaded and after the changes (HIP-68: <= 256 MiB).

Run on a quiet machine: ``python benchmarks/kube_bench.py`` (2,000 Ingresses, 5,000 slices, 50 changes; about a
minute). Smoke: ``python benchmarks/kube_bench.py --ingresses 50 --slices 120 --changes 5``.

``--crd`` measures the KubernetesCRD provider instead: ``--ingresses`` IngressRoutes (one route, host and Service
each) using ``--middlewares`` Middlewares (headers, stripPrefix, retry and rateLimit in turn, one per route in its
own namespace; a multiple of 20), same figures. Quiet machine: ``python benchmarks/kube_bench.py --crd --ingresses
1000 --middlewares 500 --slices 2500``; smoke: ``--crd --ingresses 40 --middlewares 20 --slices 80 --changes 3``.
``--json FILE`` writes the figures.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from hanzo_edge.http.pool import PoolRegistry, TransportOptions  # noqa: E402
from hanzo_edge.providers.kubernetes.crd_cluster import CRDOptions  # noqa: E402
from hanzo_edge.providers.kubernetes.crd_translate import CRDTranslator  # noqa: E402
from hanzo_edge.providers.kubernetes.ingress_translate import IngressOptions, IngressTranslator  # noqa: E402
from hanzo_edge.providers.kubernetes.resources import (  # noqa: E402
    CRD_RESOURCES,
    ENDPOINT_SLICES,
    INGRESS_CLASSES,
    INGRESSES,
    SECRETS,
    SERVICES,
)
from hanzo_edge.routing.build import build_tables  # noqa: E402
from kube_apiserver import FakeApiServer  # noqa: E402

TOKEN = "bench-token"
NAMESPACES = 20
INGRESS_BIN = str(Path(sys.executable).parent / "ingress")


class _Pod(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = self.server.pod_name.encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def start_pods(count: int) -> tuple[int, list[ThreadingHTTPServer]]:
    port = free_port("127.0.1.1")
    servers = []
    for n in range(1, count + 1):
        server = ThreadingHTTPServer((f"127.0.1.{n}", port), _Pod)
        server.pod_name = f"127.0.1.{n}"  # type: ignore[attr-defined]
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    return port, servers


def namespace(i: int) -> str:
    return f"bench-{i % NAMESPACES}"


def host(i: int) -> str:
    return f"h{i}.bench.test"


def slice_object(i: int, j: int, addresses: list[str], port: int) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"svc-{i}-{j}",
            "namespace": namespace(i),
            "labels": {"kubernetes.io/service-name": f"svc-{i}"},
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [a], "conditions": {"ready": True}} for a in addresses],
        "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
    }


MIDDLEWARE_SPECS: list[dict[str, Any]] = [
    {"headers": {"customRequestHeaders": {"X-Bench": "1"}}},
    {"stripPrefix": {"prefixes": ["/strip"]}},
    {"retry": {"attempts": 2, "initialInterval": "10ms"}},
    {"rateLimit": {"average": 1000000, "burst": 1000000}},
]


def middleware_object(k: int) -> dict[str, Any]:
    return {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "Middleware",
        "metadata": {"name": f"mw-{k}", "namespace": namespace(k)},
        "spec": MIDDLEWARE_SPECS[k % len(MIDDLEWARE_SPECS)],
    }


def ingress_route_object(i: int, middlewares: int) -> dict[str, Any]:
    # mw-(i % middlewares) lives in namespace(i) because middlewares is a multiple of NAMESPACES.
    return {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "IngressRoute",
        "metadata": {"name": f"route-{i}", "namespace": namespace(i)},
        "spec": {
            "entryPoints": ["web"],
            "routes": [
                {
                    "match": f"Host(`{host(i)}`)",
                    "kind": "Rule",
                    "services": [{"name": f"svc-{i}", "port": 80}],
                    "middlewares": [{"name": f"mw-{i % middlewares}"}],
                }
            ],
        },
    }


def populate(
    api: FakeApiServer, ingresses: int, slices: int, pods: int, port: int, middlewares: int = 0
) -> dict[int, list[str]]:
    """Create the objects (IngressRoutes and Middlewares when ``middlewares``); return each Service's addresses in
    its first slice."""
    api.apply(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "IngressClass",
            "metadata": {
                "name": "hanzo-ingress",
                "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"},
            },
            "spec": {"controller": "traefik.io/ingress-controller"},
        }
    )
    first: dict[int, list[str]] = {}
    rng = random.Random(7)
    for k in range(middlewares):
        api.apply(middleware_object(k))
    for i in range(ingresses):
        api.apply(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": f"svc-{i}", "namespace": namespace(i)},
                "spec": {"ports": [{"name": "http", "port": 80}]},
            }
        )
        if middlewares:
            api.apply(ingress_route_object(i, middlewares))
            continue
        rule = {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": f"svc-{i}", "port": {"number": 80}}}}
        api.apply(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "Ingress",
                "metadata": {"name": f"ing-{i}", "namespace": namespace(i)},
                "spec": {"ingressClassName": "hanzo-ingress", "rules": [{"host": host(i), "http": {"paths": [rule]}}]},
            }
        )
    for k in range(slices):
        i, j = k % ingresses, k // ingresses
        addresses = [f"127.0.1.{rng.randrange(1, pods + 1)}"]
        if j == 0:
            first[i] = addresses
        api.apply(slice_object(i, j, addresses, port))
    return first


def rebuild_figures(api: FakeApiServer, port: int, crd: bool = False) -> dict[str, float]:
    """Translation and table-build time of the whole snapshot, in this process."""
    resources = (INGRESSES, INGRESS_CLASSES, SERVICES, ENDPOINT_SLICES, SECRETS)
    if crd:
        resources = (*CRD_RESOURCES, SERVICES, ENDPOINT_SLICES, SECRETS)
    snapshot: dict[str, Any] = {r.plural: api.objects(r) for r in resources}
    translator: IngressTranslator | CRDTranslator = IngressTranslator(IngressOptions(ingress_class="hanzo-ingress"))
    if crd:
        translator = CRDTranslator(CRDOptions())
    provider = "kubernetescrd" if crd else "kubernetes"
    started = time.perf_counter()
    translation = translator.translate(snapshot)
    cold = time.perf_counter() - started
    key = next(iter(snapshot["endpointslices"]))
    changed = dict(snapshot["endpointslices"][key])
    changed["metadata"] = {**changed["metadata"], "resourceVersion": "999999999"}
    changed["endpoints"] = [{"addresses": ["127.0.1.250"], "conditions": {"ready": True}}]
    snapshot["endpointslices"] = {**snapshot["endpointslices"], key: changed}
    started = time.perf_counter()
    translator.translate(snapshot)
    warm = time.perf_counter() - started
    pools = PoolRegistry()
    started = time.perf_counter()
    first = build_tables({provider: translation.config}, ["web"], ["web"], pools, TransportOptions())
    build_cold = time.perf_counter() - started
    started = time.perf_counter()
    build_tables({provider: translation.config}, ["web"], ["web"], pools, TransportOptions(), previous=first)
    build_warm = time.perf_counter() - started
    return {
        "translate_cold_s": cold,
        "translate_one_slice_changed_s": warm,
        "build_tables_cold_s": build_cold,
        "build_tables_memoised_s": build_warm,
        "routers": float(len(translation.config.http.routers)),
        "middlewares_built": float(len(translation.config.http.middlewares)),
    }


def get(port: int, host_name: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/", headers={"Host": host_name})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def wait_for(predicate: Any, timeout: float, interval: float = 0.001) -> float:
    started = time.monotonic()
    while True:
        try:
            if predicate():
                return time.monotonic() - started
        except OSError:
            pass
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"not within {timeout}s")
        time.sleep(interval)


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ingresses", type=int, default=2000)
    parser.add_argument("--slices", type=int, default=5000)
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--pods", type=int, default=16)
    parser.add_argument("--spacing", type=float, default=0.6, help="seconds between two changes")
    parser.add_argument("--json", default="")
    parser.add_argument("--crd", action="store_true", help="IngressRoutes and Middlewares instead of Ingresses")
    parser.add_argument("--middlewares", type=int, default=500, help="with --crd (a multiple of 20)")
    args = parser.parse_args()
    if args.crd and (args.middlewares <= 0 or args.middlewares % NAMESPACES):
        parser.error(f"--middlewares must be a positive multiple of {NAMESPACES}")
    middlewares = args.middlewares if args.crd else 0
    if args.slices < args.ingresses:
        parser.error("--slices must be at least --ingresses (every Service has a slice)")
    results: dict[str, Any] = {
        "provider": "kubernetescrd" if args.crd else "kubernetes",
        "ingresses": args.ingresses,
        "middlewares": middlewares,
        "slices": args.slices,
        "changes": args.changes,
    }
    pod_port, pods = start_pods(args.pods)
    with FakeApiServer(token=TOKEN) as api, tempfile.TemporaryDirectory(prefix="kube-bench-") as tmp:
        started = time.perf_counter()
        first = populate(api, args.ingresses, args.slices, args.pods, pod_port, middlewares)
        results["populate_s"] = time.perf_counter() - started
        results.update(rebuild_figures(api, pod_port, crd=args.crd))
        web, admin = free_port(), free_port()
        cmd = [
            INGRESS_BIN,
            f"--entrypoints.web.address=127.0.0.1:{web}",
            f"--entrypoints.traefik.address=127.0.0.1:{admin}",
            *(
                [
                    "--providers.kubernetescrd=true",
                    f"--providers.kubernetescrd.endpoint={api.url}",
                    f"--providers.kubernetescrd.token={TOKEN}",
                ]
                if args.crd
                else [
                    "--providers.kubernetesingress=true",
                    f"--providers.kubernetesingress.endpoint={api.url}",
                    f"--providers.kubernetesingress.token={TOKEN}",
                    "--providers.kubernetesingress.ingressClass=hanzo-ingress",
                ]
            ),
            "--api=true",
            "--api.insecure=true",
            "--ping=true",
            "--log.level=ERROR",
        ]
        log = open(os.path.join(tmp, "ingress.log"), "wb")  # noqa: SIM115 - closed after the process
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TRAEFIK_", "HANZO_INGRESS_", "KUBE"))}
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL)
        try:
            last = args.ingresses - 1
            wait_for(lambda: get(web, host(last))[0] == 200, timeout=300, interval=0.05)
            results["startup_to_all_routed_s"] = time.monotonic() - started
            results["rss_loaded_mib"] = rss_mib(proc.pid)
            rng = random.Random(11)
            latencies: list[float] = []
            for _ in range(args.changes):
                # Changes are spaced wider than providers.providersThrottleDuration (0.5 s): each one is "the first
                # change after a quiet period", applied at once; closer changes are batched by that throttle.
                time.sleep(args.spacing)
                i = rng.randrange(args.ingresses)
                current = set(first[i])
                candidates = [f"127.0.1.{n}" for n in range(1, args.pods + 1) if f"127.0.1.{n}" not in current]
                new = rng.choice(candidates)
                t0 = time.monotonic()
                api.apply(slice_object(i, 0, [new], pod_port))
                wait_for(lambda i=i, new=new: get(web, host(i)) == (200, new), timeout=30)
                latencies.append(time.monotonic() - t0)
                first[i] = [new]
            results["change_to_traffic_p50_s"] = percentile(latencies, 0.5)
            results["change_to_traffic_p99_s"] = percentile(latencies, 0.99)
            results["change_to_traffic_max_s"] = max(latencies)
            results["change_to_traffic_mean_s"] = statistics.fmean(latencies)
            results["rss_after_changes_mib"] = rss_mib(proc.pid)
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
    for server in pods:
        server.shutdown()
        server.server_close()
    for key, value in results.items():
        print(f"{key:34} {value:.4f}" if isinstance(value, float) else f"{key:34} {value}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
