"""Prometheus text exposition format 0.0.4, written the way Go's ``client_golang`` (Traefik's exporter) writes it.

* families sorted by name; a labelled family with no series is left out entirely (no ``# HELP``/``# TYPE``);
* label pairs sorted by label name, ``le`` last on ``_bucket`` lines; series sorted by their label values;
* numbers formatted like Go's ``strconv.FormatFloat(v, 'g', -1, 64)``: ``1``, ``0.25``, ``5``, ``1.5e+06``,
  ``1.721e+09``, ``+Inf``, ``NaN``; so ``le="5"`` (not ``"5.0"``) and large byte counters use exponent notation.

Nothing here runs per request: it is the scrape side of :mod:`hanzo_edge.observability.metrics`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["FamilySpec", "escape_help", "escape_label_value", "go_float", "render_text"]


def go_float(value: float) -> str:
    """Format ``value`` like Go's ``strconv.FormatFloat(value, 'g', -1, 64)`` (shortest round-trip digits)."""
    if type(value) is int and -1_000_000 < value < 1_000_000:
        return str(value)  # the common case (counts, bytes): no float work
    f = float(value)
    if f == 0:
        return "0"
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    text = repr(f)  # shortest digits that round-trip, like Go's shortest mode
    sign = ""
    if text[0] == "-":
        sign, text = "-", text[1:]
    mantissa, _, exp_text = text.partition("e")
    exponent = int(exp_text) if exp_text else 0
    int_part, _, frac_part = mantissa.partition(".")
    all_digits = int_part + frac_part
    stripped = all_digits.lstrip("0")
    # decimal point position relative to the first significant digit
    point = len(int_part) + exponent - (len(all_digits) - len(stripped))
    digits = stripped.rstrip("0") or "0"
    count = len(digits)
    exp10 = point - 1
    if exp10 < -4 or exp10 >= 6:  # Go's %g with shortest precision decides with precision 6
        head = digits[0] + ("." + digits[1:] if count > 1 else "")
        exp_sign = "-" if exp10 < 0 else "+"
        return f"{sign}{head}e{exp_sign}{abs(exp10):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= count:
        return f"{sign}{digits}{'0' * (point - count)}"
    return f"{sign}{digits[:point]}.{digits[point:]}"


def escape_label_value(value: str) -> str:
    """Escape a label value for the text format (backslash, double quote, line feed)."""
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def escape_help(text: str) -> str:
    """Escape a ``# HELP`` text (backslash and line feed)."""
    return text.replace("\\", "\\\\").replace("\n", "\\n")


@dataclass(frozen=True, slots=True)
class FamilySpec:
    """One metric family: name suffix (after ``<prefix>_``), type, help and label names in declaration order.

    ``merge`` says how the snapshots of several workers combine: ``sum`` (counters, histograms), ``max``, or the
    ``*_fresh`` variants that only take gauges from recently published snapshots (a dead worker's open connections
    must not linger).
    """

    suffix: str
    kind: str  # counter | gauge | histogram
    help: str
    labels: tuple[str, ...]
    merge: str = "sum"


def _label_writer(names: tuple[str, ...]) -> tuple[tuple[int, ...], tuple[str, ...]]:
    order = tuple(sorted(range(len(names)), key=lambda i: names[i]))
    return order, tuple(names[i] for i in order)


def render_text(
    prefix: str,
    specs: Iterable[FamilySpec],
    snapshot: Mapping[str, Mapping[tuple[str, ...], Any]],
    buckets: Sequence[float],
) -> bytes:
    """Render ``snapshot`` (family suffix -> label values -> value) as exposition text.

    A histogram value is ``[count, sum, n_0, ..., n_k]`` with per-bucket (not cumulative) counts, the last one for
    ``+Inf``.
    """
    bucket_tails = [f'le="{go_float(b)}"}} ' for b in buckets] + ['le="+Inf"} ']
    out: list[str] = []
    head = f"{prefix}_" if prefix else ""
    # families sharing a label set (a scope's requests, bytes and duration) share the formatted label pairs
    formatted: dict[tuple[tuple[str, ...], tuple[str, ...]], tuple[tuple[str, ...], str]] = {}
    for spec in sorted(specs, key=lambda s: s.suffix):
        series = snapshot.get(spec.suffix)
        if not series:
            continue
        name = head + spec.suffix
        out.append(f"# HELP {name} {escape_help(spec.help)}\n# TYPE {name} {spec.kind}\n")
        names = spec.labels
        order, sorted_names = _label_writer(names)
        width = len(names)
        rows: list[tuple[tuple[str, ...], str, Any]] = []
        for values, value in series.items():
            if len(values) != width:
                continue
            done = formatted.get((names, values))
            if done is None:
                ordered = tuple(values[i] for i in order)
                pairs = ",".join([f'{n}="{escape_label_value(v)}"' for n, v in zip(sorted_names, ordered, strict=True)])
                done = formatted[(names, values)] = (ordered, pairs)
            rows.append((done[0], done[1], value))
        rows.sort(key=lambda row: row[0])
        if spec.kind != "histogram":
            out += [
                f"{name}{{{pairs}}} {go_float(value)}\n" if pairs else f"{name} {go_float(value)}\n"
                for _, pairs, value in rows
            ]
            continue
        for _, pairs, value in rows:
            count, total, *per_bucket = value
            lead = f"{name}_bucket{{{pairs}," if pairs else f"{name}_bucket{{"
            cumulative = 0
            for tail, n in zip(bucket_tails, per_bucket, strict=False):
                cumulative += n
                out += (lead, tail, go_float(cumulative), "\n")
            labels = f"{{{pairs}}}" if pairs else ""
            out.append(f"{name}_sum{labels} {go_float(total)}\n{name}_count{labels} {go_float(count)}\n")
    return "".join(out).encode("utf-8")
