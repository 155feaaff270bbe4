"""The compiled build's hand-written JSON line (``accesslog/json_line.py``) equals the generated renderer, byte for
byte.

The generated renderer (``formats.json_renderer`` over the field table) is the reference; ``JsonLine`` is what a
compiled process runs. Hypothesis draws the log's configuration (kept fields, header and query modes) and the request
(present or absent Host, X-Forwarded-For, route, service, backend, trace, TLS, body kinds, odd characters in every
client-controlled string) and compares the two lines. This file runs in both ``make test`` passes: interpreted, and
against the compiled tree, where ``JsonLine`` is native.
"""

from __future__ import annotations

import asyncio
import io

import orjson
from accesslog_twins import Route, Trace, json_twins
from hypothesis import given, settings
from hypothesis import strategies as st

from hanzo_edge.http.body import StreamBody
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request
from hanzo_edge.http.tls_info import TLSInfo
from hanzo_edge.observability.accesslog import AccessLog, json_line
from hanzo_edge.observability.accesslog.codegen import Renderer
from hanzo_edge.observability.accesslog.fields import FIELDS
from hanzo_edge.observability.accesslog.modes import HeaderModes, QueryModes

TEXT = st.text(st.characters(codec="latin-1"), max_size=12)
"""Client-controlled text: latin-1 (what the protocols decode bytes as), quotes, backslashes and controls included."""
MODES = st.sampled_from(["keep", "drop", "redact"])
PARAMS = st.sampled_from(["page", "token", "q"])
HEADER_NAMES = st.sampled_from(["User-Agent", "Referer", "X-Forwarded-For", "Accept", "X-Custom"])


@st.composite
def requests(draw: st.DrawFn) -> Request:
    raw: list[tuple[bytes, bytes]] = []
    usual = draw(st.booleans())  # routed to a service, proxied, with a Host, no trace, no TLS: the common line
    if usual or draw(st.booleans()):
        host = draw(
            st.one_of(
                TEXT, st.sampled_from(["a.test", "a.test:8080", "[::1]:81", "[::1", "x:y:z", 'a"b:8"0', "a\\b:\x01"])
            )
        )
        raw.append((draw(st.sampled_from([b"Host", b"host"])), host.encode("latin-1")))
    if draw(st.booleans()):
        raw.append((b"X-Forwarded-For", draw(TEXT).encode("latin-1")))
    for name in draw(st.lists(HEADER_NAMES, max_size=3)):
        raw.append((name.encode(), draw(TEXT).encode("latin-1")))
    params = st.lists(st.tuples(st.one_of(PARAMS, TEXT), TEXT), max_size=3)
    query = params.map(lambda pairs: "&".join(f"{k}={v}" for k, v in pairs))
    target = draw(st.one_of(TEXT, st.just("*"), st.builds(lambda p, q: f"/{p}?{q}", TEXT, query)))
    target = draw(st.one_of(st.just(target), st.builds(lambda t: f"http://h.test{t}", st.just(target))))
    body: bytes | StreamBody
    if draw(st.booleans()):
        body = draw(st.binary(max_size=8))
    else:
        body = StreamBody(None)
        body.received = draw(st.integers(0, 10**9))
    req = Request(
        draw(st.sampled_from(["GET", "POST", "HEAD", "PURGE"])),
        target,
        Headers(raw),
        version=draw(st.sampled_from(["1.1", "1.0", "2", "3", "0.9"])),
        host=draw(st.sampled_from(["", "app.test", "[::1]"])),
        client_ip=draw(st.sampled_from(["10.0.0.1", "::1", "2001:db8::7"])),
        client_port=draw(st.integers(0, 65535)),
        scheme=draw(st.sampled_from(["http", "https"])),
        body=body,
        entry_point=draw(st.sampled_from(["web", "websecure", 'we"b'])),
    )
    if usual or draw(st.booleans()):
        service = draw(st.sampled_from(["svc@file", 'sv"c@kube'] if usual else ["", "svc@file"]))
        req.route = Route(draw(st.sampled_from(["app@file", "r\\1@kube"])), service)
    servers = ["http://10.0.0.2:80", "http://u:p@[::1]:81/base?x#f"]
    req.server_url = draw(st.sampled_from(servers if usual else ["", *servers]))
    req.started = draw(st.floats(1.0, 1000.0))
    req.origin_started = draw(st.one_of(st.just(0.0), st.floats(1.0, 1001.0)))
    if not usual and draw(st.booleans()):
        req.trace = Trace(draw(st.text("0123456789abcdef", min_size=32, max_size=32)), "00f067aa0ba902b7")
    if not usual and draw(st.booleans()):
        req.tls_info = TLSInfo("1.3", "TLS_AES_128_GCM_SHA256", draw(st.sampled_from(["", "CN=client,O=Acme"])))
    return req


def _pair(
    kept: frozenset[str], headers: HeaderModes, query: QueryModes, now_ns: int = 1_764_924_530_123_456_789
) -> tuple[Renderer, json_line.JsonLine]:
    """The generated renderer and a JsonLine for the same log configuration and wall clock."""

    def wall_ns() -> int:
        return now_ns

    return json_twins(kept, headers, query, wall_ns)


@settings(max_examples=600, deadline=None)
@given(
    # Traefik's default (every field) takes JsonLine's dict-free path for the usual request: drawn half the time.
    kept=st.one_of(
        st.just(frozenset(json_line.JSON_LINE_FIELDS)), st.frozensets(st.sampled_from(json_line.JSON_LINE_FIELDS))
    ),
    header_default=MODES,
    header_names=st.dictionaries(HEADER_NAMES, MODES, max_size=3),
    query_default=MODES,
    query_names=st.dictionaries(PARAMS, MODES, max_size=2),
    req=requests(),
    status=st.integers(0, 999),
    nbytes=st.integers(0, 2**40),
    duration=st.floats(0, 100, allow_nan=False),
    retries=st.integers(0, 5),
    username=TEXT,
    count=st.integers(1, 2**40),
    now_ns=st.integers(1_000_000_000_000_000_000, 2_000_000_000_000_000_000),
)
def test_json_line_equals_the_generated_renderer(
    kept: frozenset[str],
    header_default: str,
    header_names: dict[str, str],
    query_default: str,
    query_names: dict[str, str],
    req: Request,
    status: int,
    nbytes: int,
    duration: float,
    retries: int,
    username: str,
    count: int,
    now_ns: int,
) -> None:
    headers = HeaderModes(header_default, header_names)
    query = QueryModes(query_default, query_names)

    generated, written = _pair(kept, headers, query, now_ns)
    args = (req, status, nbytes, duration, retries, username or "-", count)
    expected = generated(*args)
    assert written.render(*args) == expected
    assert written.render(*args) == expected  # the second line of the same second comes from the caches


@st.composite
def usual_requests(draw: st.DrawFn) -> Request:
    """Requests the dict-free path takes (every string plain), varying what its memos are keyed on."""
    raw = [(b"Host", draw(st.sampled_from([b"a.test", b"a.test:81", b"b.test:82"])))]
    if draw(st.booleans()):
        raw.append((b"X-Forwarded-For", draw(st.sampled_from([b"1.2.3.4", b"5.6.7.8, 9.9.9.9"]))))
    req = Request(
        "GET",
        draw(st.sampled_from(["/", "/a?b=1"])),
        Headers(raw),
        client_ip=draw(st.sampled_from(["10.0.0.1", "10.0.0.2", "::1"])),
        client_port=draw(st.sampled_from([1, 2])),
        entry_point="web",
    )
    req.route = Route(draw(st.sampled_from(["a@file", "b@file"])), draw(st.sampled_from(["s@file", "t@file"])))
    req.server_url = draw(st.sampled_from(["http://10.0.0.2:80", "http://10.0.0.3:80"]))
    return req


@settings(max_examples=200, deadline=None)
@given(
    reqs=st.lists(st.tuples(usual_requests(), st.sampled_from(["-", "alice", 'bo"b'])), min_size=2, max_size=8),
)
def test_json_line_memos_never_leak_between_requests(reqs: list[tuple[Request, str]]) -> None:
    # One log, many requests: the per-client, per-Host and per-router memos must give each line its own values
    # (the same client port from another IP, the same port with and without a user or X-Forwarded-For, ...).
    kept = frozenset(json_line.JSON_LINE_FIELDS)
    headers = HeaderModes("drop", {})
    query = QueryModes("keep", {})

    generated, written = _pair(kept, headers, query)
    for req, user in reqs:
        args = (req, 200, 5, 0.25, 0, user, 1)
        assert written.render(*args) == generated(*args)


def _both(kept: frozenset[str], headers: HeaderModes, query: QueryModes, req: Request) -> tuple[bytes, bytes]:
    generated, written = _pair(kept, headers, query)
    args = (req, 200, 5, 0.25, 0, "-", 1)
    return generated(*args), written.render(*args)


def test_json_line_filters_the_query_and_logs_headers_as_configured() -> None:
    # The two paths the usual request skips, pinned (Hypothesis finds them too, but not in every run).
    kept = frozenset(json_line.JSON_LINE_FIELDS)
    raw = [(b"Host", b"a.test:81"), (b"User-Agent", b'c"url'), (b"X-Forwarded-For", b"1.2.3.4")]
    req = Request("GET", "/p?page=1&token=s&q=x", Headers(raw), host="a.test", entry_point="web")
    req.route = Route("r@file", "s@file")
    req.server_url = "http://10.0.0.2:80"
    expected, line = _both(
        kept, HeaderModes("drop", {"User-Agent": "keep"}), QueryModes("keep", {"token": "redact"}), req
    )
    assert line == expected
    parsed = orjson.loads(line)
    assert parsed["RequestPath"] == "/p?page=1&token=REDACTED&q=x"
    assert parsed["request_User-Agent"] == 'c"url'
    assert parsed["ClientHost"] == "1.2.3.4"
    expected, line = _both(kept, HeaderModes("drop", {}), QueryModes("drop", {"q": "keep"}), req)
    assert line == expected
    assert orjson.loads(line)["RequestPath"] == "/p?q=x"


def test_json_line_knows_exactly_the_table_fields() -> None:
    # A field added to fields.FIELDS must be added to JsonLine too (and this list), in Go's order.
    assert tuple(field.key for field in FIELDS) == json_line.JSON_LINE_FIELDS


def test_the_compiled_build_logs_through_json_line() -> None:
    # Interpreted, the generated renderer is as fast and is the reference; compiled, JsonLine is ~2x cheaper.
    stream = io.BytesIO()
    log = AccessLog(format="json", stream=stream)
    render = log._render
    assert (getattr(render, "__self__", None).__class__ is json_line.JsonLine) is json_line.compiled()
    req = Request("GET", "/x", Headers([(b"Host", b"a.test")]), host="a.test", entry_point="web")

    async def run() -> None:
        log.observer(req, 200, 3, 0.001, False)
        await log.aclose()

    asyncio.run(run())
    line = orjson.loads(stream.getvalue())
    assert line["RequestPath"] == "/x"
    assert line["RequestHost"] == "a.test"
    assert line["DownstreamStatus"] == 200


@settings(max_examples=150, deadline=None)
@given(
    req=requests(),
    duration=st.floats(0, 3, allow_nan=False),
    now_ns=st.integers(-3_000_000_000, 3_000_000_000),
)
def test_json_line_around_the_epoch_equals_the_generated_renderer(req: Request, duration: float, now_ns: int) -> None:
    # The time memos start from a real second (the epoch's): a start or log time in the second before 1970 (-1,
    # once the memos' sentinel) must print its own texts, not empty ones.
    kept = frozenset(json_line.JSON_LINE_FIELDS)
    generated, written = _pair(kept, HeaderModes("drop", {}), QueryModes("keep", {}), now_ns)
    args = (req, 200, 10, duration, 0, "-", 1)
    assert written.render(*args) == generated(*args)
