"""Worker snapshots for ``--workers N``: one JSON file per worker process, merged at scrape time.

Each worker writes ``worker-<id>-<pid>.json`` (atomically: temporary file + ``os.replace``) about once a second.
The file name carries the pid, so a restarted worker starts a new file and the old one keeps contributing its final
counts: summed counters never go backwards across a worker restart. Gauges with a ``*_fresh`` merge policy are only
taken from files published within ``stale_after`` seconds, so a dead worker's open connections disappear.

File layout (orjson)::

    {"worker": 0, "pid": 123, "time": 1721234567.5, "buckets": [0.1, 0.3, 1.2, 5.0],
     "families": {"entrypoint_requests_total": [[["200", "GET", "http", "web"], 3], ...], ...}}
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import orjson

from hanzo_edge.observability._metrics_text import FamilySpec

__all__ = ["Snapshot", "WorkerSnapshot", "dump_snapshot", "load_snapshot", "merge_into", "write_atomic"]

Snapshot: TypeAlias = dict[str, dict[tuple[str, ...], Any]]
"""family suffix -> label values (declaration order) -> number, or ``[count, sum, n_0, ..., n_inf]``."""


@dataclass(frozen=True, slots=True)
class WorkerSnapshot:
    """One worker's published snapshot, validated."""

    worker: int
    pid: int
    time: float
    buckets: tuple[float, ...]
    families: Snapshot


def dump_snapshot(worker: int, pid: int, now: float, buckets: Sequence[float], families: Snapshot) -> bytes:
    """Serialise a snapshot for :func:`write_atomic`."""
    payload = {
        "worker": worker,
        "pid": pid,
        "time": now,
        "buckets": list(buckets),
        "families": {name: [[list(k), v] for k, v in series.items()] for name, series in families.items() if series},
    }
    return orjson.dumps(payload)


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so a concurrent reader sees the old or the new file, never a partial one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _number(value: Any) -> bool:
    return type(value) in (int, float)


def load_snapshot(path: Path, specs: Mapping[str, FamilySpec]) -> WorkerSnapshot | None:
    """Read and validate one worker file; None when unreadable or malformed (it is skipped, not fatal)."""
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    worker, pid, when, buckets, families = (data.get(k) for k in ("worker", "pid", "time", "buckets", "families"))
    if not (type(worker) is int and type(pid) is int and isinstance(when, int | float) and isinstance(families, dict)):
        return None
    if not (isinstance(buckets, list) and all(_number(b) for b in buckets)):
        return None
    out: Snapshot = {}
    for name, rows in families.items():
        spec = specs.get(name)
        if spec is None or not isinstance(rows, list):
            continue
        width = len(spec.labels)
        series: dict[tuple[str, ...], Any] = {}
        for row in rows:
            if not (isinstance(row, list) and len(row) == 2 and isinstance(row[0], list) and len(row[0]) == width):
                continue
            labels, value = row
            if not all(isinstance(v, str) for v in labels):
                continue
            if spec.kind == "histogram":
                if not (isinstance(value, list) and len(value) == len(buckets) + 3 and all(map(_number, value))):
                    continue
            elif not _number(value):
                continue
            series[tuple(labels)] = value
        out[name] = series
    return WorkerSnapshot(worker, pid, float(when), tuple(float(b) for b in buckets), out)


def merge_into(
    target: Snapshot,
    others: Iterable[WorkerSnapshot],
    specs: Iterable[FamilySpec],
    buckets: Sequence[float],
    now: float,
    stale_after: float,
) -> Snapshot:
    """Add the ``others`` snapshots into ``target`` (in place, also returned) following each family's merge policy."""
    spec_list = list(specs)
    bucket_tuple = tuple(float(b) for b in buckets)
    for snap in others:
        fresh = now - snap.time <= stale_after
        for spec in spec_list:
            series = snap.families.get(spec.suffix)
            if not series:
                continue
            policy = spec.merge
            if policy.endswith("_fresh") and not fresh:
                continue
            histogram = spec.kind == "histogram"
            if histogram and snap.buckets != bucket_tuple:
                continue  # a worker on other buckets cannot be added bucket by bucket
            into = target.setdefault(spec.suffix, {})
            summed = policy.startswith("sum")
            for key, value in series.items():
                old = into.get(key)
                if old is None:
                    into[key] = list(value) if histogram else value
                elif histogram:
                    into[key] = [a + b for a, b in zip(old, value, strict=True)]
                elif summed:
                    into[key] = old + value
                else:
                    into[key] = max(old, value)
    return target
