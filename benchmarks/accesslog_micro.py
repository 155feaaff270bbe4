"""CPU cost of one access-log line on the event loop, without sockets: µs per line for a representative request.

Calls ``AccessLog.observer`` N times inside a running loop (what the data plane does when a response completes), so the
figure is rendering plus the append to the pending batch; the writer thread's write to ``/dev/null``-like sink happens
once, after the timed loop. Each variant is timed ``--rounds`` times and the best round is printed.

Run: ``python benchmarks/accesslog_micro.py [N] [--rounds 5]``.
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

# A routed, proxied keep-alive GET as wrk sends it, answered by a backend.
HEADERS = [
    (b"Host", b"app.example.com:8080"),
    (b"User-Agent", b"wrk/4.2.0"),
    (b"Accept", b"*/*"),
    (b"X-Forwarded-For", b"203.0.113.7"),
]


class Route:
    """The bits of a routed request's route the access log reads."""

    name = "app@file"
    service = "app@file"


class NullSink:
    """An output that throws the bytes away (the writer thread's cost is not on the event loop)."""

    def write(self, data: Any) -> int:
        return len(data)

    def flush(self) -> None:
        return None


# What wrk sends in the end-to-end probe (benchmarks/obs22_cpu_probe.py): a Host with a port, no X-Forwarded-For.
WRK_HEADERS = [(b"Host", b"127.0.0.1:8080")]


def representative_request(headers: list[tuple[bytes, bytes]] = HEADERS) -> Request:
    """Return a routed request answered by a backend, as the proxy hands it to the observer."""
    body = StreamBody(None)
    req = Request(
        "GET",
        "/api/items?page=2",
        Headers(list(headers)),
        path="/api/items",
        query="page=2",
        host="app.example.com",
        client_ip="10.0.0.1",
        client_port=54321,
        body=body,
        entry_point="web",
    )
    req.route = cast(Any, Route())
    req.server_url = "http://10.0.0.2:80"
    req.started = time.perf_counter() - 0.002
    req.origin_started = req.started + 0.0002
    return req


VARIANTS: dict[str, dict[str, Any]] = {
    "json": {"format": "json"},
    "json, wrk's request": {"format": "json", "request": WRK_HEADERS},
    "json, 2 fields dropped, 1 header kept": {
        "format": "json",
        "fields_names": {"StartLocal": "drop", "ClientAddr": "drop"},
        "headers_names": {"User-Agent": "keep"},
    },
    "json, fields drop by default, 4 kept": {
        "format": "json",
        "fields_default": "drop",
        "fields_names": {"Duration": "keep", "DownstreamStatus": "keep", "RequestPath": "keep", "RouterName": "keep"},
    },
    "common": {"format": "common"},
    "genericCLF, User-Agent kept": {"format": "genericCLF", "headers_names": {"User-Agent": "keep"}},
}


async def time_variant(options: dict[str, Any], n: int) -> float:
    """Return the µs per line of ``n`` observer calls with these options."""
    options = dict(options)
    req = representative_request(options.pop("request", HEADERS))
    log = AccessLog(stream=cast(IO[bytes], NullSink()), **options)
    observe: Callable[[Request, int, int, float, bool], None] = log.observer
    started = time.perf_counter()
    for _ in range(n):
        observe(req, 200, 1234, 0.0123, False)
    elapsed = time.perf_counter() - started
    await log.aclose()
    return elapsed / n * 1e6


async def main() -> None:
    """Print the best of ``--rounds`` for each variant."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("n", nargs="?", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", default="", help="time only the variants whose name starts with this")
    args = parser.parse_args()
    for name, options in VARIANTS.items():
        if not name.startswith(args.only):
            continue
        best = min([await time_variant(options, args.n) for _ in range(args.rounds)])
        print(f"{name:40s} {best:6.2f} µs/line")


if __name__ == "__main__":
    asyncio.run(main())
