"""KrakenD's ``/__stats`` (krakend-metrics): the flat expvar JSON map of the router, proxy and backend layers.

krakend-metrics keeps a go-metrics registry prefixed ``krakend.`` and serves it with go-metrics' ``exp`` handler on
``telemetry/metrics``' ``listen_address``: expvar's ``cmdline`` plus one key per counter or gauge and, per
histogram, ``<name>.count``, ``.min``, ``.max``, ``.mean``, ``.std-dev`` and ``.50-percentile`` … ``.999-percentile``,
sorted by key. What we keep, with its keys:

* router (gin handler factory, one per endpoint path, ``{id}`` written ``:id`` as gin has it):
  ``krakend.router.response.<path>.status`` (registered, never bumped), ``…status.<code>.count``,
  ``…size``/``…time`` histograms (body bytes, nanoseconds); ``krakend.router.connected``/``disconnected`` (requests
  started/finished in this collection period), ``connected-gauge``/``disconnected-gauge`` (the last period's) and
  ``connected-total``/``disconnected-total`` (every finished period's);
* proxy (layer ``pipe``, named by the endpoint path) and backend (layer ``backend``, named by the URL pattern with
  ``{x}`` written ``{{.X}}`` as Lura has it): ``krakend.proxy.requests.layer.<l>.name.<n>.complete.<b>.error.<b>``
  counters and ``krakend.proxy.latency…`` histograms (nanoseconds), all four combinations registered up front;
* ``krakend.service.debug.GCStats.NumGC``, ``…LastGC`` (unix ns), ``…PauseTotal`` (ns) and the ``…Pause``
  histogram (the last pause, once per period) from CPython's collector (``gc.callbacks``, while the collector runs),
  ``krakend.service.runtime.NumGoroutine`` (asyncio tasks) and ``…NumThread``: the Go runtime figures Python has an
  equivalent for, captured each collection period.

``collection_time`` is the period: at each one the connection counters roll over and every histogram is cleared
(krakend-metrics' ``TakeSnapshot``). Histograms are go-metrics' uniform reservoir of 1028 samples.

Hot path: cells are created when an endpoint's service is built (once per generation, shared by name as go-metrics'
``GetOrRegister`` shares them); a request adds to plain ints and one list slot. The map is formatted at scrape time.
The collector is process-wide (:func:`activate`), because the service builder's context has no slot for it and a
gateway process has one ``telemetry/metrics``.
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
import random
import re
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Handler, Request, Response

__all__ = [
    "GatewayStats",
    "Histogram",
    "LayerCells",
    "RouterCells",
    "StatsConfig",
    "activate",
    "active",
    "backend_name",
    "deactivate",
    "endpoint_name",
    "go_float",
]

RESERVOIR = 1028  # go-metrics' NewUniformSample(1028), what krakend-metrics' histograms use
_PERCENTILES = ((0.5, "50"), (0.75, "75"), (0.95, "95"), (0.99, "99"), (0.999, "999"))
_PARAM = re.compile(r"\{([^{}/]+)\}")
STATS_PATHS = ("/__stats", "/__stats/")


@dataclass(frozen=True, slots=True)
class StatsConfig:
    """``telemetry/metrics`` as the collector uses it."""

    collection_time: float = 60.0
    router: bool = True
    proxy: bool = True
    backend: bool = True
    endpoint: bool = True  # serve /__stats


def endpoint_name(path: str) -> str:
    """The endpoint's name in the keys: gin's form of the path (``/u/{id}`` → ``/u/:id``)."""
    return _PARAM.sub(lambda m: ":" + m.group(1), path)


def backend_name(url_pattern: str) -> str:
    """The backend's name in the keys: Lura's form of the URL pattern (``/u/{id}`` → ``/u/{{.Id}}``)."""
    return _PARAM.sub(lambda m: "{{." + m.group(1)[:1].upper() + m.group(1)[1:] + "}}", url_pattern)


def go_float(value: float) -> str:
    """Go's ``strconv.FormatFloat(v, 'g', -1, 64)`` (how expvar writes a float): ``1.5e+06``, ``0.25``, ``3``."""
    if value == 0 or not math.isfinite(value):
        return "0"  # the histograms never produce a non-finite value; JSON has none
    # The shortest digits that round-trip (Python's repr and Go's shortest agree) and the first one's exponent.
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    if not isinstance(exponent, int):  # NaN/infinity, excluded above
        return "0"
    raw = "".join(map(str, digits))
    exp = len(raw) - 1 + exponent
    prefix = "-" if sign else ""
    if exp < -4 or exp >= 6:  # 'g' with the shortest precision switches to %e at 6 digits
        mantissa = raw[0] + ("." + raw[1:] if len(raw) > 1 else "")
        return f"{prefix}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if exp >= len(raw) - 1:
        return prefix + raw + "0" * (exp - len(raw) + 1)
    if exp >= 0:
        return f"{prefix}{raw[: exp + 1]}.{raw[exp + 1 :]}"
    return f"{prefix}0.{'0' * (-exp - 1)}{raw}"


class Histogram:
    """go-metrics' histogram over a uniform sample (reservoir of :data:`RESERVOIR` values)."""

    __slots__ = ("count", "values")

    def __init__(self) -> None:
        self.count = 0
        self.values: list[int] = []

    def update(self, value: int) -> None:
        """Add one observation (Vitter's algorithm R, as go-metrics' ``UniformSample``)."""
        self.count += 1
        values = self.values
        if len(values) < RESERVOIR:
            values.append(value)
        else:
            slot = int(random.random() * self.count)  # sampling, not security
            if slot < RESERVOIR:
                values[slot] = value

    def clear(self) -> None:
        """Forget every observation (krakend-metrics clears each histogram at each collection)."""
        self.count = 0
        self.values = []

    def fields(self) -> list[tuple[str, str]]:
        """The exp handler's ``(suffix, JSON value)`` pairs: count, min, max, mean, std-dev, percentiles."""
        values = sorted(self.values)
        size = len(values)
        if not size:
            zero = [("min", "0"), ("max", "0"), ("mean", "0"), ("std-dev", "0")]
            return [("count", str(self.count)), *zero, *((f"{label}-percentile", "0") for _, label in _PERCENTILES)]
        mean = sum(values) / size
        variance = sum((v - mean) ** 2 for v in values) / size
        out = [
            ("count", str(self.count)),
            ("min", go_float(float(values[0]))),
            ("max", go_float(float(values[-1]))),
            ("mean", go_float(mean)),
            ("std-dev", go_float(math.sqrt(variance))),
        ]
        for p, label in _PERCENTILES:
            # go-metrics' SamplePercentiles: linear interpolation at p*(n+1).
            pos = p * (size + 1)
            if pos < 1:
                score = float(values[0])
            elif pos >= size:
                score = float(values[-1])
            else:
                lower, upper = values[int(pos) - 1], values[int(pos)]
                score = lower + (pos - math.floor(pos)) * (upper - lower)
            out.append((f"{label}-percentile", go_float(score)))
        return out


class LayerCells:
    """One proxy-middleware instrumentation point (layer ``pipe`` or ``backend``, one name)."""

    __slots__ = ("latency", "requests")

    def __init__(self) -> None:
        # Index: complete * 2 + error (complete.true.error.false is 2).
        self.requests = [0, 0, 0, 0]
        self.latency = (Histogram(), Histogram(), Histogram(), Histogram())

    def record(self, complete: bool, error: bool, seconds: float) -> None:
        """Count one call and its latency."""
        index = complete * 2 + error
        self.requests[index] += 1
        self.latency[index].update(int(seconds * 1e9))


class RouterCells:
    """One endpoint's router metrics: status counts, response sizes and times."""

    __slots__ = ("size", "status", "time")

    def __init__(self) -> None:
        self.status: dict[int, int] = {}
        self.size = Histogram()
        self.time = Histogram()


class _Counting:
    """A route handler that counts the request as ``connected`` before running (no coroutine frame of its own)."""

    __slots__ = ("inner", "stats")

    def __init__(self, inner: Handler, stats: GatewayStats) -> None:
        self.inner = inner
        self.stats = stats

    def __call__(self, req: Request) -> Awaitable[Response]:
        self.stats.connected += 1
        return self.inner(req)


class _GCWatch:
    """CPython's collections timed through ``gc.callbacks``: go-metrics' ``debug.GCStats`` figures."""

    __slots__ = ("last_gc_ns", "last_pause_ns", "pause_total_ns", "started")

    def __init__(self) -> None:
        self.started = 0.0
        self.last_gc_ns = 0
        self.last_pause_ns = 0
        self.pause_total_ns = 0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.started = time.perf_counter()
            return
        pause = int((time.perf_counter() - self.started) * 1e9)
        self.last_pause_ns = pause
        self.pause_total_ns += pause
        self.last_gc_ns = time.time_ns()


class GatewayStats:
    """The collector (see the module docstring). ``clock``: monotonic seconds, for the collection period."""

    def __init__(self, config: StatsConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self.period = max(config.collection_time, 0.001)
        self.next_collection = clock() + self.period
        self.connected = 0
        self.disconnected = 0
        self.gauges = {"connected-gauge": 0, "disconnected-gauge": 0, "connected-total": 0, "disconnected-total": 0}
        self.runtime: dict[str, int] = {}
        self.routers: dict[str, RouterCells] = {}
        self.layers: dict[tuple[str, str], LayerCells] = {}
        self._by_route: dict[str, RouterCells] = {}
        self.gc = _GCWatch()
        self.gc_pause = Histogram()
        self._captured_gc = 0  # last_gc_ns at the previous capture: Pause gets a sample only after a new collection

    # -- cells, created at build time ----------------------------------------------------------------------------
    def router_cells(self, path: str) -> RouterCells:
        """The cells of endpoint ``path`` (shared by every method of the path, as KrakenD's)."""
        return self.routers.setdefault(endpoint_name(path), RouterCells())

    def layer_cells(self, layer: str, name: str) -> LayerCells | None:
        """The cells of ``layer`` (``pipe``/``backend``) for ``name``; None when that layer is disabled."""
        if not (self.config.proxy if layer == "pipe" else self.config.backend):
            return None
        return self.layers.setdefault((layer, name), LayerCells())

    def bind_routes(self, routes: dict[str, str]) -> None:
        """This generation's routers (qualified name → endpoint path) for :meth:`observe`."""
        if self.config.router:
            self._by_route = {router: self.router_cells(path) for router, path in routes.items()}

    def counting(self, handler: Handler) -> Handler:
        """Wrap an endpoint's handler so the request counts as connected (none when the router layer is off)."""
        return _Counting(handler, self) if self.config.router else handler

    def observe(self, req: Request, status: int, size: int, duration: float, aborted: bool) -> None:
        """The entrypoint observer: the finished request's status, body size and time for its endpoint."""
        route = req.route
        cells = self._by_route.get(route.name) if route is not None else None
        if cells is None:
            return
        self.disconnected += 1
        cells.status[status] = cells.status.get(status, 0) + 1
        cells.size.update(size)
        cells.time.update(int(duration * 1e9))

    # -- collection ------------------------------------------------------------------------------------------------
    def collect(self) -> None:
        """One collection: roll the connection counters over, clear the histograms, capture runtime figures."""
        gauges = self.gauges
        gauges["connected-gauge"] = self.connected
        gauges["connected-total"] += self.connected
        gauges["disconnected-gauge"] = self.disconnected
        gauges["disconnected-total"] += self.disconnected
        self.connected = self.disconnected = 0
        for router in self.routers.values():
            router.size.clear()
            router.time.clear()
        for layer in self.layers.values():
            for histogram in layer.latency:
                histogram.clear()
        self.gc_pause.clear()
        self.runtime = _runtime_figures()
        # go-metrics' CaptureDebugGCStatsOnce: gauges, and the last pause when a collection ran since the last time.
        watch = self.gc
        self.runtime["debug.GCStats.LastGC"] = watch.last_gc_ns
        self.runtime["debug.GCStats.PauseTotal"] = watch.pause_total_ns
        if watch.last_gc_ns != self._captured_gc:
            self._captured_gc = watch.last_gc_ns
            self.gc_pause.update(watch.last_pause_ns)

    def collect_due(self) -> int:
        """Run every collection whose time has come; return how many ran."""
        ran = 0
        now = self.clock()
        while now >= self.next_collection:
            self.collect()
            self.next_collection += self.period
            ran += 1
        return ran

    async def run(self, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        """Collect every ``collection_time`` until cancelled; CPython's collections are timed meanwhile."""
        gc.callbacks.append(self.gc)
        try:
            while True:
                await sleep(max(self.next_collection - self.clock(), 0.0))
                self.collect_due()
        finally:
            gc.callbacks.remove(self.gc)

    # -- the map ---------------------------------------------------------------------------------------------------
    def entries(self) -> Iterator[tuple[str, str]]:
        """Every ``(key, JSON value)`` of the map, unsorted."""
        yield "cmdline", json.dumps(sys.argv)
        yield "krakend.router.connected", str(self.connected)
        yield "krakend.router.disconnected", str(self.disconnected)
        for key, count in self.gauges.items():
            yield f"krakend.router.{key}", str(count)
        for key, figure in self.runtime.items():
            yield f"krakend.service.{key}", str(figure)
        for field, value in self.gc_pause.fields():
            yield f"krakend.service.debug.GCStats.Pause.{field}", value
        if self.config.router:
            for name, cells in self.routers.items():
                base = f"krakend.router.response.{name}"
                yield f"{base}.status", "0"
                for code, count in cells.status.items():
                    yield f"{base}.status.{code}.count", str(count)
                for suffix, histogram in (("size", cells.size), ("time", cells.time)):
                    for field, value in histogram.fields():
                        yield f"{base}.{suffix}.{field}", value
        for (layer, name), layer_cells in self.layers.items():
            for index, (complete, error) in enumerate(
                (("false", "false"), ("false", "true"), ("true", "false"), ("true", "true"))
            ):
                labels = f"layer.{layer}.name.{name}.complete.{complete}.error.{error}"
                yield f"krakend.proxy.requests.{labels}", str(layer_cells.requests[index])
                for field, value in layer_cells.latency[index].fields():
                    yield f"krakend.proxy.latency.{labels}.{field}", value

    def render(self) -> bytes:
        """The body expvar's handler writes: ``{\\n"key": value,\\n…\\n}\\n``, keys sorted."""
        lines = [f"{json.dumps(key)}: {value}" for key, value in sorted(self.entries())]
        return ("{\n" + ",\n".join(lines) + "\n}\n").encode()

    async def handler(self, req: Request) -> Response:
        """``GET /__stats`` (and ``/__stats/``): the map; 405 for another method."""
        if req.method not in ("GET", "HEAD"):
            headers = Headers([(b"Content-Type", b"text/plain"), (b"Allow", b"GET")])
            return Response(405, headers, b"405 method not allowed")
        self.collect_due()  # a late timer must not show a period that is over
        return Response(200, Headers([(b"Content-Type", b"application/json; charset=utf-8")]), self.render())


def _runtime_figures() -> dict[str, int]:
    try:
        tasks = len(asyncio.all_tasks())
    except RuntimeError:  # no running loop (a unit test collecting by hand)
        tasks = 0
    return {
        "debug.GCStats.NumGC": sum(generation["collections"] for generation in gc.get_stats()),
        "runtime.NumGoroutine": tasks,
        "runtime.NumThread": threading.active_count(),
    }


_active: GatewayStats | None = None


def activate(stats: GatewayStats) -> None:
    """Make ``stats`` the collector the endpoints' services count into (set before the first build)."""
    global _active
    _active = stats


def deactivate(stats: GatewayStats) -> None:
    """Stop counting into ``stats`` (at shutdown)."""
    global _active
    if _active is stats:
        _active = None


def active() -> GatewayStats | None:
    """The process's collector, None when ``telemetry/metrics`` is not configured."""
    return _active
