"""Review of issue 22's ``AccessLog`` split (the per-request half now ``batch.LineBatch``, compiled): hand-over,
reopen, flush and close keep every line, in order, in the right file.

Hypothesis draws a life of one JSON access log writing to a real file: requests, ``reopen`` after a logrotate-style
rename (SIGUSR1), ``flush``, loop iterations (the end-of-iteration hand-over) and timer expiries, with
``bufferingSize`` 0, 1 and N. Every line rendered before a reopen must be in the file that was current then, every
later one in the new file, each once and in order (``RequestCount`` numbers them); nothing after ``aclose`` is
logged. The synchronous caller (no running loop) writes at once. Runs interpreted and against the compiled tree.
"""

from __future__ import annotations

import asyncio
import gc
import io
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hanzo_edge.http.body import StreamBody
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request
from hanzo_edge.observability import accesslog as accesslog_module
from hanzo_edge.observability.accesslog import AccessLog
from hanzo_edge.observability.accesslog.fields import FIELDS, namespace
from hanzo_edge.observability.accesslog.formats import json_renderer
from hanzo_edge.observability.accesslog.gofmt import Seconds
from hanzo_edge.observability.accesslog.modes import HeaderModes, QueryModes


@dataclass(frozen=True)
class _Route:
    name: str
    service: str
    rule: str = ""
    observability: None = None
    body_limit: None = None


STEPS = st.lists(
    st.one_of(
        st.integers(1, 4),  # that many requests
        st.sampled_from(["reopen", "flush", "iteration"]),
    ),
    max_size=12,
)


def _request() -> Request:
    return Request("GET", "/x", Headers([(b"Host", b"a.test")]), host="a.test", entry_point="web")


def _counts(path: Path) -> list[int]:
    if not path.exists():
        return []
    return [orjson.loads(line)["RequestCount"] for line in path.read_bytes().splitlines()]


@settings(max_examples=40, deadline=None)
@given(steps=STEPS, buffering=st.sampled_from([0, 1, 3]))
def test_every_line_lands_once_in_the_file_current_when_it_was_rendered(steps: list[object], buffering: int) -> None:
    with tempfile.TemporaryDirectory() as directory, pytest.MonkeyPatch.context() as patch:
        # Short enough that "iteration" steps see timer hand-overs too, long enough that some batches wait.
        patch.setattr(accesslog_module, "FLUSH_INTERVAL", 0.002)
        path = Path(directory) / "access.log"
        expected: list[list[int]] = [[]]  # the lines each file generation must hold, oldest file first

        async def life() -> None:
            log = AccessLog(format="json", file_path=str(path), buffering_size=buffering)
            count = 0
            for step in steps:
                if isinstance(step, int):
                    for _ in range(step):
                        log.observer(_request(), 200, 1, 0.001, False)
                        count += 1
                        expected[-1].append(count)
                elif step == "reopen":
                    # No flush first: lines still pending (or queued for the writer) belong to the renamed file.
                    path.rename(path.with_name(f"access.log.{len(expected)}"))
                    log.reopen()
                    expected.append([])
                elif step == "flush":
                    await log.flush()
                else:
                    await asyncio.sleep(0.003)
            await log.aclose()
            log.observer(_request(), 200, 1, 0.001, False)  # after close: not logged
            await log.aclose()

        asyncio.run(life())
        files = [path.with_name(f"access.log.{i}") for i in range(1, len(expected))] + [path]
        assert [_counts(f) for f in files] == expected


@pytest.mark.parametrize("buffering", [0, 1, 3])
def test_a_synchronous_caller_writes_at_once(tmp_path: Path, buffering: int) -> None:
    path = tmp_path / "access.log"
    log = AccessLog(format="json", file_path=str(path), buffering_size=buffering)
    log.observer(_request(), 200, 1, 0.001, False)  # no running loop: handed to the writer now
    log.observer(_request(), 200, 1, 0.001, False)

    async def close() -> None:
        await log.aclose()

    asyncio.run(close())
    assert _counts(path) == [1, 2]
    assert log.request_count == 2


def test_a_line_says_what_the_request_was_when_it_finished(tmp_path: Path) -> None:
    # After an early answer the server drains the rest of the client's body (StreamBody.drain): its ``received``
    # goes on growing after the request was observed. Traefik writes the line at the end of the handler, so
    # RequestContentSize is what had arrived then, whenever the batch is handed over.
    path = tmp_path / "access.log"
    body = StreamBody(None)
    body.feed(b"12345")

    async def life() -> None:
        log = AccessLog(format="json", file_path=str(path))
        req = Request("POST", "/x", Headers([(b"Host", b"a.test")]), host="a.test", entry_point="web", body=body)
        log.observer(req, 401, 1, 0.001, False)  # in the loop: handed over at the end of this iteration
        body.feed(b"6789")  # drained after the answer, before the hand-over
        await log.aclose()

    asyncio.run(life())
    (line,) = path.read_bytes().splitlines()
    assert orjson.loads(line)["RequestContentSize"] == 5


def test_the_log_holds_no_request_after_observing_it(tmp_path: Path) -> None:
    # A request can carry a buffered body of up to maxRequestBodyBytes: a log that kept observed requests until the
    # hand-over (up to FLUSH_INTERVAL, or hundreds of lines, later) would keep their bodies alive with them.
    payload = b"x" * 100_000

    async def life() -> None:
        log = AccessLog(format="json", file_path=str(path), buffering_size=100)
        req = Request("POST", "/x", Headers([(b"Host", b"a.test")]), host="a.test", entry_point="web", body=payload)
        held = sys.getrefcount(payload)
        log.observer(req, 200, 1, 0.001, False)
        del req
        gc.collect()
        assert sys.getrefcount(payload) == held - 1  # only the request held it, and the request is gone
        await log.aclose()

    path = tmp_path / "access.log"
    asyncio.run(life())
    assert _counts(path) == [1]


@pytest.mark.parametrize("buffering", [0, 1, 3])
def test_a_burst_larger_than_one_batch_is_written_without_a_flush(tmp_path: Path, buffering: int) -> None:
    # A file is written on the loop in batches of at most DIRECT_BATCH_BYTES: a burst of lines larger than that,
    # observed in one loop iteration, must still reach the file by itself (the hand-overs are the log's business,
    # not the caller's), within FLUSH_INTERVAL or so.
    path = tmp_path / "access.log"
    burst = 3 * accesslog_module.DIRECT_BATCH_BYTES // 1000  # ~1 KiB lines: three batches' worth

    async def life() -> list[int]:
        log = AccessLog(format="json", file_path=str(path), buffering_size=buffering)
        for i in range(burst):
            req = Request("GET", f"/{i:04d}" + "a" * 900, Headers([(b"Host", b"a.test")]), host="a.test")
            log.observer(req, 200, 1, 0.001, False)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5 * accesslog_module.FLUSH_INTERVAL + 1.0
        while len(_counts(path)) < burst and loop.time() < deadline:  # polled, not slept for a fixed time
            await asyncio.sleep(0.005)
        written = _counts(path)
        await log.aclose()
        return written

    assert asyncio.run(life()) == list(range(1, burst + 1))


@settings(max_examples=40, deadline=None)
@given(
    shapes=st.lists(
        st.tuples(
            st.sampled_from(["/", "/a?b=1", '/q"x', "/é"]),
            st.sampled_from([b"a.test", b"a.test:81", b""]),
            st.sampled_from(["-", "alice"]),
            st.integers(0, 2_500_000_000),  # the wall clock's step before this request (up to 2.5 s)
        ),
        min_size=1,
        max_size=6,
    ),
    buffering=st.sampled_from([0, 1, 3]),
)
def test_the_logs_lines_are_the_generated_renderers_at_the_instant_each_request_was_observed(
    shapes: list[tuple[str, bytes, str, int]], buffering: int
) -> None:
    # The whole log (batch, hand-over, the compiled JsonLine when compiled) against the reference renderer, with
    # the wall clock moving between requests and again before the hand-over: each line is the one the reference
    # writes at the instant its request was observed.
    clock = [1_764_924_530_000_000_000]

    def wall_ns() -> int:
        return clock[0]

    stream = io.BytesIO()
    kept = frozenset(f.key for f in FIELDS)
    names = namespace(
        wall_ns=wall_ns,
        seconds=Seconds(),
        scan_headers=HeaderModes("drop", {}).scan,
        request_path=QueryModes("keep", {}).request_path,
    )
    reference = json_renderer(kept, names, False)
    expected: list[bytes] = []

    async def life() -> None:
        log = AccessLog(format="json", stream=stream, buffering_size=buffering, wall_ns=wall_ns)
        for count, (target, host, user, step) in enumerate(shapes, 1):
            clock[0] += step
            raw = [(b"Host", host)] if host else []
            req = Request("GET", target, Headers(raw), host="h.test", entry_point="web", client_port=count)
            req.route = _Route("r@file", "s@file")
            req.server_url = "http://10.0.0.2:80"
            req.client_username = "" if user == "-" else user
            log.observer(req, 200, 3, 0.25, False)
            expected.append(reference(req, 200, 3, 0.25, 0, user, count))
        clock[0] += 3_000_000_000  # the hand-over comes later: the lines must not say so
        await log.aclose()

    asyncio.run(life())
    assert stream.getvalue() == b"".join(expected)
