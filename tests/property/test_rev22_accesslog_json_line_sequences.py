"""Review of issue 22's hand-written JSON access-log line: sequences through one log, any text, any clock.

``test_accesslog_json_line_equal`` renders each drawn request once (twice at one instant) with latin-1 text. A
compiled process renders many requests through one :class:`JsonLine`, whose memos (per client port, per Host, per
router and backend, per method and entrypoint name) and time caches (start second, log second) live across lines.
Here one log and one generated renderer see a drawn sequence of requests, each at its own wall-clock instant (in
order, across second boundaries, or going backwards, as a stepped wall clock does), with every string drawn from all
of Unicode (non-ASCII, controls, quotes, backslashes, lone surrogates) where a client or the configuration can put it.
The two must give the same bytes, or both refuse the line with the same error (orjson cannot encode a lone
surrogate). Runs interpreted and against the compiled tree (where ``JsonLine`` is native).
"""

from __future__ import annotations

from accesslog_twins import Route, Trace, json_twins
from hypothesis import given, settings
from hypothesis import strategies as st

from hanzo_edge.http.body import StreamBody
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request
from hanzo_edge.observability.accesslog import json_line
from hanzo_edge.observability.accesslog.modes import HeaderModes, QueryModes

UNICODE = st.text(max_size=6)  # every code point, lone surrogates included
LATIN1 = st.text(st.characters(codec="latin-1"), max_size=6)
USUAL = st.sampled_from(["a", "é", "日本", "x y", 'q"', "b\\s", "\x7f", "\u2028", "\x85"])
"""Plain and almost-plain strings, so the dict-free path and its refusals both come up often."""


def _text(latin1_only: bool) -> st.SearchStrategy[str]:
    if latin1_only:  # header bytes, decoded as latin-1 by the protocols
        return st.one_of(USUAL.filter(lambda t: t.isascii() or t == "é" or t == "\x85"), LATIN1)
    return st.one_of(USUAL, UNICODE)


@st.composite
def requests(draw: st.DrawFn) -> tuple[Request, str]:
    raw: list[tuple[bytes, bytes]] = []
    if draw(st.integers(0, 4)):
        host = draw(st.one_of(st.sampled_from(["a.test", "a.test:81", "[::1]:8", "[::1]", "é.test:9"]), _text(True)))
        raw.append((draw(st.sampled_from([b"Host", b"host", b"HOST"])), host.encode("latin-1")))
    if draw(st.booleans()):
        xff = draw(st.one_of(st.sampled_from(["1.2.3.4", "::1, 10.0.0.1"]), _text(True)))
        raw.append((draw(st.sampled_from([b"X-Forwarded-For", b"x-forwarded-for"])), xff.encode("latin-1")))
    if draw(st.booleans()):
        raw.append((b"User-Agent", draw(_text(True)).encode("latin-1")))
    target = draw(st.one_of(st.sampled_from(["/", "/a?b=1", "*", "http://h/x?q=1"]), _text(False)))
    body: bytes | StreamBody = draw(st.binary(max_size=4))
    if draw(st.booleans()):
        body = StreamBody(None)
        body.received = draw(st.integers(0, 10**6))
    req = Request(
        draw(st.one_of(st.sampled_from(["GET", "POST"]), _text(False))),
        target,
        Headers(raw),
        version=draw(st.one_of(st.sampled_from(["1.1", "2", "1.0"]), _text(False))),
        host=draw(st.sampled_from(["", "app.test", "[::1]"])),
        client_ip=draw(st.one_of(st.sampled_from(["10.0.0.1", "10.0.0.2", "::1", "::ffff:10.0.0.1"]), _text(False))),
        client_port=draw(st.sampled_from([0, 1, 2, 65535])),
        scheme=draw(st.sampled_from(["http", "https"])),
        body=body,
        entry_point=draw(st.one_of(st.sampled_from(["web", "websecure"]), _text(False))),
    )
    if draw(st.integers(0, 3)):
        name = draw(st.one_of(st.sampled_from(["a@file", "b@file"]), _text(False)))
        service = draw(st.one_of(st.sampled_from(["s@file", "t@file", ""]), _text(False)))
        req.route = Route(name, service)
    if draw(st.integers(0, 3)):
        req.server_url = draw(
            st.one_of(st.sampled_from(["http://10.0.0.2:80", "http://u:p@[::1]:81/b?x#f", "h2c://s"]), _text(False))
        )
    req.started = 10.0
    req.origin_started = draw(st.sampled_from([0.0, 10.0, 10.25, 11.0]))
    if not draw(st.integers(0, 5)):
        req.trace = Trace("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
    username = draw(st.one_of(st.just("-"), _text(False)))
    return req, username or "-"


BASE_NS = 1_764_924_530_000_000_000
INSTANTS = st.one_of(
    st.integers(-3, 3).map(lambda s: BASE_NS + s * 1_000_000_000),  # whole seconds, both ways
    st.integers(-3_000_000_000, 3_000_000_000).map(lambda d: BASE_NS + d),
    st.sampled_from([BASE_NS - 1, BASE_NS + 999_999_999, BASE_NS + 1]),
)
DURATIONS = st.sampled_from([0.0, 1e-9, 0.25, 0.999999999, 1.0, 1.5, 2.000000001])


def _outcome(render: object, args: tuple[object, ...]) -> bytes | str:
    try:
        return render(*args)  # type: ignore[operator,no-any-return]
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


@settings(max_examples=200, deadline=None)
@given(
    every_field=st.booleans(),
    kept=st.frozensets(st.sampled_from(json_line.JSON_LINE_FIELDS), min_size=1),
    header_default=st.sampled_from(["drop", "keep"]),
    query_default=st.sampled_from(["keep", "redact"]),
    steps=st.lists(
        st.tuples(requests(), INSTANTS, DURATIONS, st.integers(-1, 1000), st.integers(0, 2)), min_size=1, max_size=8
    ),
)
def test_a_sequence_through_one_log_equals_the_generated_renderer(
    every_field: bool,
    kept: frozenset[str],
    header_default: str,
    query_default: str,
    steps: list[tuple[tuple[Request, str], int, float, int, int]],
) -> None:
    fields = frozenset(json_line.JSON_LINE_FIELDS) if every_field else kept
    headers = HeaderModes(header_default, {})
    query = QueryModes(query_default, {})
    clock = [BASE_NS]

    def wall_ns() -> int:
        return clock[0]

    generated, written = json_twins(fields, headers, query, wall_ns)
    for count, ((req, username), now_ns, duration, status, retries) in enumerate(steps, 1):
        clock[0] = now_ns
        args = (req, status, 17, duration, retries, username, count)
        assert _outcome(written.render, args) == _outcome(generated, args)
