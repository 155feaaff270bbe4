"""The access log's batch keeps every line in order (issue 22): the usual JSON lines come from ``JsonLine`` as text
and are joined and encoded once per batch, the others as orjson's bytes, and both go into one buffer.

One :class:`LineBatch` (rendering deferred to the hand-over, as with ``bufferingSize: 0``) observes a drawn mix of
usual and unusual requests; whatever ``batch_bytes`` cuts the batch into, the bytes taken are the generated
renderer's lines for the same requests, in the order observed. Runs interpreted and compiled.
"""

from __future__ import annotations

from accesslog_twins import Route, json_twins
from hypothesis import given, settings
from hypothesis import strategies as st

from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request
from hanzo_edge.observability.accesslog import json_line
from hanzo_edge.observability.accesslog.batch import LineBatch
from hanzo_edge.observability.accesslog.modes import HeaderModes, QueryModes


@st.composite
def requests(draw: st.DrawFn) -> Request:
    """Usual requests (one string of text), and ones the dict path writes (no route, an escaped Host, non-ASCII)."""
    host = draw(st.sampled_from([b"a.test:81", b"b.test", b'q"uote', b"\xe9.test"]))
    req = Request(
        "GET",
        draw(st.sampled_from(["/", "/a?b=1", "/\u00e9t\u00e9"])),
        Headers([(b"Host", host)]),
        client_port=draw(st.integers(1, 3)),
        entry_point="web",
    )
    if draw(st.integers(0, 3)):
        req.route = Route("r@file", "s@file")
        req.server_url = "http://10.0.0.2:80"
    return req


BASE_NS = 1_764_924_530_000_000_000


@settings(max_examples=150, deadline=None)
@given(
    reqs=st.lists(requests(), min_size=1, max_size=12),
    batch_bytes=st.sampled_from([1, 300, 2000, 1 << 62]),
    clock_steps=st.lists(st.integers(0, 700_000_000), min_size=12, max_size=12),
)
def test_taken_batches_hold_every_line_in_order(reqs: list[Request], batch_bytes: int, clock_steps: list[int]) -> None:
    kept = frozenset(json_line.JSON_LINE_FIELDS)
    headers = HeaderModes("drop", {})
    query = QueryModes("keep", {})
    clock = [BASE_NS]

    def wall_ns() -> int:
        return clock[0]

    generated, written = json_twins(kept, headers, query, wall_ns)
    handed: list[int] = []
    batch = LineBatch(
        generated,
        written,
        add_internals=False,
        status_table=bytes(1000),
        status_ranges=(),
        retry_attempts=False,
        min_duration=0.0,
        buffering=0,
        batch_bytes=batch_bytes,
        start_batch=lambda: None,
        hand_over=lambda: handed.append(batch.lines),
    )
    expected = []
    for count, (req, step) in enumerate(zip(reqs, clock_steps, strict=False), 1):
        clock[0] += step
        batch.observe(req, 200, 5, 0.25, False)
        expected.append(generated(req, 200, 5, 0.25, 0, "-", count))
    taken = bytearray()
    for _ in range(len(reqs) + 1):  # each take() renders at least one waiting line
        if not batch.lines:
            break
        taken += batch.take()
    assert batch.lines == 0
    assert bytes(taken) == b"".join(expected)
    assert b"\xc3\xa9" in taken or all(b"\xe9" not in r.headers.raw[0][1] and "\u00e9" not in r.target for r in reqs)
