"""CPU per call of issue 22's per-request observability hooks, alone (no sockets, no event loop).

What the request pipeline calls once per request of the "full product" (``HEADERS=1`` in ``ingress-for-bench.sh``
plus ``--metrics.prometheus``):

* ``headers``: the ``headers`` middleware's fused response hook (``customResponseHeaders`` ``X-Served-By: edge`` and
  ``stsSeconds``) on an nginx-like response, as ``http/pipeline.py`` calls it;
* ``metrics``: the Prometheus observer (Traefik's default scopes: entrypoint and service) for a matched request;
* ``report``: the metrics observer as the pipeline calls it (``http.pipeline.report``: the duration, a guard);
* ``fan-out``: the entrypoint observer when two observers are on (the metrics observer and a no-op one), as
  ``App._observer_for`` returns it.

Each figure is nanoseconds of process CPU per call, best of the rounds, minus an empty loop doing the same per-call
set-up (the response's header list reset). Run with whichever tree is on ``PYTHONPATH`` (``build/compiled/src`` for
the compiled build; the printout says which); A/B: run it once per tree in the same locked slot.
``python benchmarks/obs22_hooks_micro.py [N] [--rounds R]``; smoke: ``... 2000 --rounds 1``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from hanzo_edge.config.dynamic import decode_dynamic
from hanzo_edge.http import pipeline
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.http.pipeline import report
from hanzo_edge.middlewares.base import BuildContext, HeadHooks, factory_for, head_hooks_of
from hanzo_edge.observability.metrics import Metrics
from hanzo_edge.routing.table import Route

BUILD = "compiled" if (pipeline.__file__ or "").endswith(".so") else "pure"
HEADERS = {"hdr": {"headers": {"customResponseHeaders": {"X-Served-By": "edge"}, "stsSeconds": 31536000}}}
NGINX_FIELDS = [
    (b"Server", b"nginx/1.22.1"),
    (b"Date", b"Sun, 22 Nov 2026 03:54:34 GMT"),
    (b"Content-Type", b"text/plain"),
    (b"Content-Length", b"100"),
    (b"Connection", b"keep-alive"),
]


async def _backend(req: Request) -> Response:
    return Response(200)


def _request() -> Request:
    req = Request("GET", "/small", Headers([(b"Host", b"127.0.0.1:8080")]), host="127.0.0.1", entry_point="web")
    req.route = Route(name="bench@file", priority=1, matches=lambda r: True, handler=_backend, service="backend@file")
    return req


def _headers_hook() -> Callable[[Request, Response], None]:
    config, _ = decode_dynamic({"http": {"middlewares": HEADERS}})
    model = config.http.middlewares["hdr"]
    factory = factory_for("headers")
    if factory is None:
        raise SystemExit("no headers middleware")
    layer = factory(_backend, model.headers, name="hdr@file", ctx=BuildContext())
    hooks = head_hooks_of(layer)
    if not isinstance(hooks, HeadHooks) or hooks.on_response is None:
        raise SystemExit("the headers middleware offers no response hook")
    return hooks.on_response


def _fan_out(hooks: list[Callable[..., None]]) -> Callable[..., None]:
    try:
        from hanzo_edge.observability.fan_out import FanOut
    except ImportError:  # a tree from before the compiled fan-out: the closure app.py had

        def closure(req: Request, status: int, size: int, duration: float, aborted: bool) -> None:
            for hook in hooks:
                hook(req, status, size, duration, aborted)

        return closure
    return FanOut(tuple(hooks))


def _noop(req: Request, status: int, size: int, duration: float, aborted: bool) -> None:
    return None


def measure(n: int, rounds: int) -> dict[str, float]:
    req = _request()
    response = Response(200, Headers(list(NGINX_FIELDS)), b"x" * 100)
    headers = response.headers
    on_response = _headers_hook()
    observer = Metrics().observer
    fan = _fan_out([observer, _noop])
    cases: dict[str, Callable[[], Any]] = {}

    def empty() -> None:
        for _ in range(n):
            headers.raw = NGINX_FIELDS[:]

    def run_headers() -> None:
        for _ in range(n):
            headers.raw = NGINX_FIELDS[:]
            on_response(req, response)

    def run_metrics() -> None:
        for _ in range(n):
            headers.raw = NGINX_FIELDS[:]
            observer(req, 200, 100, 0.00031, False)

    def run_report() -> None:
        for _ in range(n):
            headers.raw = NGINX_FIELDS[:]
            report(observer, req, 200, 100, False)

    def run_fan_out() -> None:
        for _ in range(n):
            headers.raw = NGINX_FIELDS[:]
            fan(req, 200, 100, 0.00031, False)

    cases = {
        "empty": empty,
        "headers": run_headers,
        "metrics": run_metrics,
        "report": run_report,
        "fan-out": run_fan_out,
    }
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(rounds):
        for name, case in cases.items():
            t0 = time.process_time()
            case()
            best[name] = min(best[name], (time.process_time() - t0) * 1e9 / n)
    return {name: best[name] - best["empty"] for name in cases if name != "empty"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("n", nargs="?", type=int, default=300_000, help="calls per case and round")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    figures = measure(args.n, max(1, args.rounds))
    print(f"build: {BUILD}")
    for name, ns in figures.items():
        print(f"{name:>8}: {ns:7.1f} ns CPU/call")


if __name__ == "__main__":
    main()
