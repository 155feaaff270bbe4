"""The compiled build's hand-written CLF line (``accesslog/common_line.py``) equals the generated renderer, byte for
byte, for ``common`` and ``genericCLF``.

The generated renderer (``formats.clf_renderer`` over the field table and the format's slots) is the reference;
``CommonLine`` is what a compiled process runs. Hypothesis draws the log's configuration (format, kept fields, header
and query modes) and a sequence of requests through one log, each at its own wall-clock instant (in order, across
second boundaries, or going backwards), with odd Hosts, X-Forwarded-For values (repeated, empty first), usernames,
IPv6 clients, TLS, retries, routes with and without a service, odd paths and queries, and any Unicode where a client
or the configuration can put it. The two must give the same bytes, or refuse the line with the same error (a lone
surrogate cannot be UTF-8 encoded). Runs interpreted and against the compiled tree (where ``CommonLine`` is native).
"""

from __future__ import annotations

import asyncio
import io
import time

import pytest
from accesslog_twins import Route, Trace
from hypothesis import given, settings
from hypothesis import strategies as st

from hanzo_edge.http.body import StreamBody
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request
from hanzo_edge.http.tls_info import TLSInfo
from hanzo_edge.observability.accesslog import AccessLog, common_line
from hanzo_edge.observability.accesslog.codegen import Renderer
from hanzo_edge.observability.accesslog.fields import CORE_FIELDS, namespace
from hanzo_edge.observability.accesslog.formats import COMMON, GENERIC_CLF, clf_renderer
from hanzo_edge.observability.accesslog.gofmt import Seconds
from hanzo_edge.observability.accesslog.modes import DROP, HeaderModes, QueryModes

MODES = st.sampled_from(["keep", "drop", "redact", "bogus"])
PARAMS = st.sampled_from(["page", "token", "q", "a b"])
HEADER_NAMES = st.sampled_from(
    ["User-Agent", "Referer", "user-agent", "REFERER", "X-Forwarded-For", "Accept", "X-Custom"]
)
UNICODE = st.text(max_size=6)  # every code point, lone surrogates included
LATIN1 = st.text(st.characters(codec="latin-1"), max_size=8)
USUAL = st.sampled_from(["a", "é", "日本", "x y", 'q"', "b\\s", "\x7f", "\u2028", "-", ""])


def _text(latin1_only: bool) -> st.SearchStrategy[str]:
    if latin1_only:  # header bytes, decoded as latin-1 by the protocols
        return st.one_of(USUAL.filter(lambda t: all(ord(c) < 256 for c in t)), LATIN1)
    return st.one_of(USUAL, UNICODE)


@st.composite
def requests(draw: st.DrawFn) -> tuple[Request, str, int]:
    """A request as the observer gets it, its ``ClientUsername`` and its retries."""
    raw: list[tuple[bytes, bytes]] = []
    if draw(st.integers(0, 4)):
        host = draw(st.one_of(st.sampled_from(["a.test", "a.test:81", "[::1]:8", "[::1", "x:y:z"]), _text(True)))
        raw.append((draw(st.sampled_from([b"Host", b"host", b"HOST"])), host.encode("latin-1")))
    for _ in range(draw(st.integers(0, 2))):  # repeated X-Forwarded-For, an empty first one included
        xff = draw(st.one_of(st.sampled_from(["1.2.3.4", "::1, 10.0.0.1", ""]), _text(True)))
        name = draw(st.sampled_from([b"X-Forwarded-For", b"x-forwarded-for", b"X-FORWARDED-FOR"]))
        raw.append((name, xff.encode("latin-1")))
    for name in draw(st.lists(HEADER_NAMES, max_size=3)):
        raw.append((name.encode(), draw(_text(True)).encode("latin-1")))
    params = st.lists(st.tuples(st.one_of(PARAMS, LATIN1), LATIN1), max_size=3)
    query = params.map(lambda pairs: "&".join(f"{k}={v}" for k, v in pairs))
    target = draw(
        st.one_of(
            st.sampled_from(["/", "/a?b=1", "*", "", "http://h/x?q=1", "https://h.test", "h://?page=1"]),
            _text(False),
            st.builds(lambda p, q: f"/{p}?{q}", LATIN1, query),
        )
    )
    target = draw(st.one_of(st.just(target), st.builds(lambda t: f"http://h.test{t}", st.just(target))))
    body: bytes | StreamBody = draw(st.binary(max_size=4))
    if draw(st.booleans()):
        body = StreamBody(None)
        body.received = draw(st.integers(0, 10**6))
    req = Request(
        draw(st.one_of(st.sampled_from(["GET", "POST", "PURGE"]), _text(False))),
        target,
        Headers(raw),
        version=draw(st.one_of(st.sampled_from(["1.1", "2", "1.0", "0.9", "3", "2.0"]), _text(False))),
        host=draw(st.sampled_from(["", "app.test", "[::1]"])),
        client_ip=draw(
            st.one_of(st.sampled_from(["10.0.0.1", "::1", "2001:db8::7", "::ffff:10.0.0.1", ""]), _text(False))
        ),
        client_port=draw(st.sampled_from([0, 1, 54321, 65535])),
        scheme=draw(st.sampled_from(["http", "https"])),
        body=body,
        entry_point=draw(st.one_of(st.sampled_from(["web", "websecure"]), _text(False))),
    )
    if draw(st.integers(0, 3)):
        name = draw(st.one_of(st.sampled_from(["a@file", "b@kube", ""]), _text(False)))
        service = draw(st.one_of(st.sampled_from(["s@file", ""]), _text(False)))
        req.route = Route(name, service)
    if draw(st.integers(0, 3)):
        req.server_url = draw(
            st.one_of(st.sampled_from(["http://10.0.0.2:80", "http://u:p@[::1]:81/b?x#f", "h2c://s"]), _text(False))
        )
    req.started = 10.0
    req.origin_started = draw(st.sampled_from([0.0, 10.0, 10.25]))
    if not draw(st.integers(0, 4)):
        req.trace = Trace("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
    if not draw(st.integers(0, 3)):
        req.tls_info = TLSInfo("1.3", "TLS_AES_128_GCM_SHA256", draw(st.sampled_from(["", "CN=client,O=Acme"])))
    retries = draw(st.integers(0, 3))
    req.retry_attempts = retries or None
    username = draw(st.one_of(st.just("-"), _text(False)))
    return req, username, retries


BASE_NS = 1_764_924_530_000_000_000
INSTANTS = st.one_of(
    st.integers(-3, 3).map(lambda s: BASE_NS + s * 1_000_000_000),  # whole seconds, both ways
    st.integers(-3_000_000_000, 3_000_000_000).map(lambda d: BASE_NS + d),
    st.sampled_from([BASE_NS - 1, BASE_NS + 999_999_999, BASE_NS + 1]),
    st.integers(0, 4_000_000_000_000_000_000),
)
DURATIONS = st.one_of(
    st.sampled_from([0.0, 1e-9, 0.0009999, 0.001, 0.25, 0.999999999, 1.0, 1.5, 2.000000001]),
    st.floats(0, 10_000, allow_nan=False),
)


class Clock:
    """The wall clock both renderers read, set before each line."""

    def __init__(self) -> None:
        self.now = BASE_NS

    def __call__(self) -> int:
        return self.now


def _pair(
    generic: bool, kept: frozenset[str], headers: HeaderModes, query: QueryModes, clock: Clock
) -> tuple[Renderer, common_line.CommonLine]:
    """The generated renderer and a CommonLine for the same log configuration, as ``AccessLog`` builds them."""
    collect = headers.mode("Referer") != DROP or headers.mode("User-Agent") != DROP
    names = namespace(wall_ns=clock, seconds=Seconds(), scan_headers=headers.scan, request_path=query.request_path)
    generated = clf_renderer(GENERIC_CLF if generic else COMMON, kept, names, collect)
    written = common_line.CommonLine(
        kept,
        generic=generic,
        wall_ns=clock,
        seconds=Seconds(),
        referer=headers.mode("Referer"),
        user_agent=headers.mode("User-Agent"),
        request_path=query.request_path,
        plain_query=query.plain,
    )
    return generated, written


def _outcome(render: object, args: tuple[object, ...]) -> bytes | str:
    try:
        return render(*args)  # type: ignore[operator,no-any-return]
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


def _batched(written: common_line.CommonLine, args: tuple[Request, int, int, float, str, int, int]) -> bytes | str:
    # line_at's outcome as the batch writes it: text (joined with others, encoded once) only when it is ASCII.
    try:
        line = written.line_at(*args)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    if isinstance(line, str):
        assert line.isascii()
        return line.encode()
    return line


@settings(max_examples=400, deadline=None)
@given(
    generic=st.booleans(),
    # Traefik's default keeps every field: drawn often, as it is the line a compiled process renders most.
    kept=st.one_of(st.just(frozenset(CORE_FIELDS)), st.frozensets(st.sampled_from(CORE_FIELDS))),
    header_default=MODES,
    header_names=st.dictionaries(HEADER_NAMES, MODES, max_size=3),
    query_default=MODES,
    query_names=st.dictionaries(PARAMS, MODES, max_size=2),
    steps=st.lists(
        st.tuples(requests(), INSTANTS, DURATIONS, st.integers(0, 999), st.integers(0, 2**40), st.integers(0, 2**40)),
        min_size=1,
        max_size=6,
    ),
)
def test_common_line_equals_the_generated_renderer(
    generic: bool,
    kept: frozenset[str],
    header_default: str,
    header_names: dict[str, str],
    query_default: str,
    query_names: dict[str, str],
    steps: list[tuple[tuple[Request, str, int], int, float, int, int, int]],
) -> None:
    # One log, many requests: the start-second memo must give each line its own time, whatever the clock does.
    clock = Clock()
    generated, written = _pair(
        generic, kept, HeaderModes(header_default, header_names), QueryModes(query_default, query_names), clock
    )
    for (req, username, retries), now_ns, duration, status, nbytes, count in steps:
        clock.now = now_ns
        args = (req, status, nbytes, duration, retries, username, count)
        expected = _outcome(generated, args)
        assert _outcome(written.render, args) == expected
        # What the deferred path calls: the instant read when the request was observed, rendered later.
        clock.now = now_ns + 7_000_000_000
        deferred = (req, status, nbytes, duration, username, count, now_ns)
        assert _outcome(written.render_at, deferred) == expected
        assert _batched(written, deferred) == expected


def _line(generic: bool, headers: HeaderModes, query: QueryModes, req: Request, username: str = "-") -> bytes:
    clock = Clock()
    generated, written = _pair(generic, frozenset(CORE_FIELDS), headers, query, clock)
    args = (req, 200, 5, 0.25, 0, username, 3)
    expected: bytes = generated(*args)
    assert written.render(*args) == expected
    return expected


def test_common_line_pins_the_usual_line_and_the_modes() -> None:
    # The cases Hypothesis finds too, but not in every run: a proxied request with X-Forwarded-For, the query
    # filtered, Referer and User-Agent logged (one redacted), an IPv6 client without X-Forwarded-For.
    raw = [
        (b"Host", b"a.test:81"),
        (b"x-forwarded-for", b""),
        (b"X-Forwarded-For", b"1.2.3.4"),
        (b"User-Agent", b'c"url'),
        (b"Referer", b"https://r.test/"),
    ]
    req = Request("GET", "/p?page=1&token=s&q=x", Headers(raw), host="a.test", entry_point="web", client_ip="::1")
    req.route = Route("r@file", "s@file")
    req.server_url = "http://10.0.0.2:80"
    line = _line(False, HeaderModes("drop", {}), QueryModes("keep", {}), req)
    assert line.startswith(b"1.2.3.4 - - [")
    assert line.endswith(
        b'] "GET /p?page=1&token=s&q=x HTTP/1.1" 200 5 "-" "-" 3 "r@file" "http://10.0.0.2:80" 250ms\n'
    )
    line = _line(
        True,
        HeaderModes("drop", {"user-agent": "keep", "Referer": "redact"}),
        QueryModes("keep", {"token": "redact"}),
        req,
        "alice",
    )
    assert line.startswith(b"1.2.3.4 - alice [")
    assert line.endswith(b'] "GET /p?page=1&token=REDACTED&q=x HTTP/1.1" 200 5 "REDACTED" "c"url"\n')
    req.headers = Headers([(b"Host", b"a.test")])
    line = _line(False, HeaderModes("drop", {}), QueryModes("drop", {"q": "keep"}), req)
    assert line.startswith(b"::1 - - [")
    assert b'"GET /p?q=x HTTP/1.1"' in line


def test_common_line_prints_exactly_the_common_slots() -> None:
    # A slot added to formats.COMMON (or GENERIC_CLF, its first ten) must be added to CommonLine too.
    assert tuple(slot.keys for slot in COMMON.slots) == common_line.CLF_SLOT_FIELDS
    assert COMMON.slots[: len(GENERIC_CLF.slots)] == GENERIC_CLF.slots
    assert COMMON.template.startswith(GENERIC_CLF.template[:-1])


@pytest.mark.parametrize("form", ["common", "genericCLF"])
@pytest.mark.parametrize("buffering", [0, 5])
def test_the_compiled_build_logs_clf_through_common_line(form: str, buffering: int) -> None:
    # Interpreted, the generated renderer is the reference and what runs; compiled, CommonLine renders the line, at
    # the end of the loop iteration (bufferingSize 0) or as each request is observed.
    stream = io.BytesIO()
    log = AccessLog(format=form, stream=stream, buffering_size=buffering, headers_names={"User-Agent": "keep"})
    render = log._render
    assert (getattr(render, "__self__", None).__class__ is common_line.CommonLine) is common_line.compiled()
    raw = [(b"Host", b"a.test"), (b"User-Agent", b"wrk"), (b"X-Forwarded-For", b"203.0.113.7")]
    # The middle path is not ASCII: its line comes as bytes between two joined texts, and must keep its place.
    paths = ["/x0", "/é1", "/x2"]
    requests = [Request("GET", path, Headers(list(raw)), host="a.test", entry_point="web") for path in paths]
    for req in requests:
        req.route = Route("r@file", "s@file")
        req.server_url = "http://10.0.0.2:80"

    async def run() -> None:
        for req in requests:
            log.observer(req, 200, 3, 0.0125, False)
        await log.aclose()

    asyncio.run(run())
    lines = stream.getvalue().decode().splitlines()
    assert len(lines) == 3
    for number, line in enumerate(lines, 1):
        head, _, rest = line.partition(" [")
        assert head == "203.0.113.7 - -"
        stamp, _, tail = rest.partition("] ")
        time.strptime(stamp, "%d/%b/%Y:%H:%M:%S %z")
        expected = f'"GET {paths[number - 1]} HTTP/1.1" 200 3 "-" "wrk"'
        if form == "common":
            expected += f' {number} "r@file" "http://10.0.0.2:80" 12ms'
        assert tail == expected
