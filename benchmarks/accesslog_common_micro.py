"""CPU cost of one ``common`` / ``genericCLF`` access-log line on the event loop, without sockets: µs per line.

Calls ``AccessLog.observer`` N times inside a running loop, as the data plane does when a response completes; with
``bufferingSize`` 0 a compiled build defers the rendering and renders each 256 observed requests in one go, which
the timed loop includes. The writer's output (a sink that throws the bytes away) is outside the timed loop. Each
variant is timed ``--rounds`` times and the best round is printed.

A/B the compiled line against the generated renderer by running it under two trees, in one locked run::

    for tree in /tmp/before build/compiled/src; do
        PYTHONPATH=$tree .venv/bin/python benchmarks/accesslog_common_micro.py --rounds 5
    done

Run: ``python benchmarks/accesslog_common_micro.py [N] [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from typing import IO, Any, cast

from hanzo_edge.http.body import StreamBody
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request
from hanzo_edge.observability.accesslog import AccessLog

# A routed, proxied keep-alive GET as a browser behind a proxy sends it, and as wrk sends it in the end-to-end probe.
BROWSER = [
    (b"Host", b"app.example.com:8080"),
    (b"User-Agent", b"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"),
    (b"Accept", b"*/*"),
    (b"Referer", b"https://app.example.com/"),
    (b"X-Forwarded-For", b"203.0.113.7"),
]
WRK = [(b"Host", b"127.0.0.1:8080")]


class Route:
    """The bits of a routed request's route the access log reads."""

    name = "app@file"
    service = "app@file"


class NullSink:
    """An output that throws the bytes away (the writer's cost is not what is measured)."""

    def write(self, data: Any) -> int:
        return len(data)

    def flush(self) -> None:
        return None


def request(headers: list[tuple[bytes, bytes]]) -> Request:
    """A routed request answered by a backend, as the proxy hands it to the observer."""
    req = Request(
        "GET",
        "/api/items?page=2",
        Headers(list(headers)),
        path="/api/items",
        query="page=2",
        host="app.example.com",
        client_ip="10.0.0.1",
        client_port=54321,
        body=StreamBody(None),
        entry_point="web",
    )
    req.route = cast(Any, Route())
    req.server_url = "http://10.0.0.2:80"
    req.started = time.perf_counter() - 0.002
    req.origin_started = req.started + 0.0002
    return req


VARIANTS: dict[str, tuple[list[tuple[bytes, bytes]], dict[str, Any]]] = {
    "common (Traefik's default), wrk's request": (WRK, {}),
    "common, browser behind a proxy": (BROWSER, {}),
    "common, Referer + User-Agent kept": (BROWSER, {"headers_names": {"Referer": "keep", "User-Agent": "keep"}}),
    "common, query token redacted": (BROWSER, {"query_names": {"page": "redact"}}),
    "common, bufferingSize 100": (WRK, {"buffering_size": 100}),
    "genericCLF, User-Agent kept": (BROWSER, {"format": "genericCLF", "headers_names": {"User-Agent": "keep"}}),
}


async def time_variant(headers: list[tuple[bytes, bytes]], options: dict[str, Any], n: int) -> float:
    """Return the µs per line of ``n`` observer calls with these options."""
    log = AccessLog(stream=cast(IO[bytes], NullSink()), **{"format": "common", **options})
    req = request(headers)
    observe: Callable[[Request, int, int, float, bool], None] = log.observer
    started = time.process_time()
    for _ in range(n):
        observe(req, 200, 1234, 0.0123, False)
    elapsed = time.process_time() - started
    await log.aclose()
    return elapsed / n * 1e6


async def main() -> None:
    """Print the best of ``--rounds`` for each variant."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("n", nargs="?", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    try:  # a tree from before common_line.py (an A/B's "before") renders with the generated renderer
        from hanzo_edge.observability.accesslog import common_line

        print(f"CommonLine: {'compiled' if common_line.compiled() else 'interpreted (generated renderer used)'}")
    except ImportError:
        print("CommonLine: absent (generated renderer used)")
    for name, (headers, options) in VARIANTS.items():
        best = min([await time_variant(headers, options, args.n) for _ in range(args.rounds)])
        print(f"{name:45s} {best:6.2f} µs/line")


if __name__ == "__main__":
    asyncio.run(main())
