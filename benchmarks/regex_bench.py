"""User regexps: RE2 (what runs now) against Python's backtracking ``re`` (what ran before issue 9).

Part 1 is the pathological ``PathRegexp(`^/files/([a-z0-9]+-?)+/download$`)`` on paths that almost match: ``re``
doubles its time with every letter (measured up to 20 letters so it finishes; 27 letters, the issue's 4.7 s case,
is extrapolated from the measured growth), RE2 stays linear up to 100,000 letters. Part 2 is the everyday cost of a
match on RE2 and on ``re``, for the raw regexp and for the whole compiled rule predicate.

Run: ``python benchmarks/regex_bench.py`` (about 20 s).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from hanzo_edge.rules import compile_rule
from hanzo_edge.rules.goregexp import compile_go_regexp

PATHOLOGICAL = "^/files/([a-z0-9]+-?)+/download$"
# What the old hand translation handed to re for it: "$" became "\Z", compiled with re.ASCII.
OLD_PYTHON_FORM = re.compile(r"^/files/([a-z0-9]+-?)+/download\Z", re.ASCII)


@dataclass
class Probe:
    """The fields a compiled rule reads from a request."""

    routing_path: str = "/"
    host: str = "example.com"
    method: str = "GET"
    client_ip: str = "127.0.0.1"
    headers: dict[str, list[str]] = field(default_factory=dict)

    def header_values(self, name: str) -> list[str]:
        return self.headers.get(name, [])

    def query_params(self) -> dict[str, list[str]]:
        return {}


def per_call_us(call: Callable[[], object], budget: float = 0.3) -> float:
    """Return the mean µs of ``call`` over about ``budget`` seconds (at least one call)."""
    calls = 0
    start = time.perf_counter()
    elapsed = 0.0
    while elapsed < budget or calls == 0:
        call()
        calls += 1
        elapsed = time.perf_counter() - start
    return elapsed / calls * 1e6


def near_miss(letters: int) -> str:
    """``/files/`` and ``letters`` letters then ``!``: the pathological pattern almost matches it."""
    return "/files/" + "a" * letters + "!"


def pathological() -> None:
    print(f"1. {PATHOLOGICAL} on /files/aaa...a! (no match), by letters after /files/")
    print(f"   {'letters':>7}  {'re (old) µs':>14}  {'RE2 µs':>10}")
    go = compile_go_regexp(PATHOLOGICAL)
    measured: list[tuple[int, float]] = []
    for letters in (12, 14, 16, 18, 20):
        path = near_miss(letters)
        assert OLD_PYTHON_FORM.search(path) is None
        assert not go.is_match(path)
        old = per_call_us(lambda path=path: OLD_PYTHON_FORM.search(path), budget=0.5)
        measured.append((letters, old))
        print(f"   {letters:>7}  {old:>14,.1f}  {per_call_us(lambda path=path: go.is_match(path)):>10.2f}")
    (first, first_us), (last, last_us) = measured[-3], measured[-1]
    growth = (last_us / first_us) ** (1 / (last - first))
    for letters in (27, 100, 1_000, 10_000, 100_000):
        path = near_miss(letters)
        old_text = f"{last_us * growth ** (letters - last):,.0f}" if letters < 40 else "(years)"
        print(f"   {letters:>7}  {old_text:>14}  {per_call_us(lambda path=path: go.is_match(path)):>10.2f}")
    print(f"   re beyond {last} letters: extrapolated at x{growth:.2f} per letter")
    rule = compile_rule(f"PathRegexp(`{PATHOLOGICAL}`)")
    probe = Probe(routing_path=near_miss(27))
    print(f"   whole compiled rule on RE2, 27 letters: {per_call_us(lambda: rule.matches(probe)):.2f} µs per request")


def hot_path() -> None:
    print("\n2. Everyday matches (µs per match)")
    print(f"   {'':<62}  {'re':>6}  {'RE2':>6}  {'rule on RE2':>11}")
    cases = [
        ("PathRegexp", r"^/api/v[0-9]+/users/[a-z0-9-]+$", Probe(routing_path="/api/v2/users/abc-123")),
        ("PathRegexp", r"^/api/v[0-9]+/users/[a-z0-9-]+$", Probe(routing_path="/static/app.js")),
        ("PathRegexp", r"\.(css|js|png)$", Probe(routing_path="/assets/site/app.js")),
        ("HostRegexp", r"^[a-z0-9-]+\.example\.com$", Probe(host="api.example.com")),
        ("HostRegexp", r"^[a-z0-9-]+\.example\.com$", Probe(host="api.example.org")),
    ]
    for matcher, pattern, probe in cases:
        print(everyday_row(matcher, pattern, probe))


def everyday_row(matcher: str, pattern: str, probe: Probe) -> str:
    subject = probe.routing_path if matcher == "PathRegexp" else probe.host
    python = re.compile(pattern.replace("$", r"\Z"), re.ASCII).search
    go = compile_go_regexp(pattern).is_match
    rule = compile_rule(f"{matcher}(`{pattern}`)").matches
    assert (python(subject) is not None) == go(subject) == rule(probe)
    label = f"{matcher} {pattern} ~ {subject}"
    return (
        f"   {label:<62.62}  {per_call_us(lambda: python(subject)):>6.2f}  "
        f"{per_call_us(lambda: go(subject)):>6.2f}  {per_call_us(lambda: rule(probe)):>11.2f}"
    )


def main() -> None:
    started = time.perf_counter()
    pathological()
    hot_path()
    print(f"\n({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
