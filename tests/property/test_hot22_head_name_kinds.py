"""The upstream request head and the response-head filter classify field names through a raw-name memo (issue 22).

Differential: for any field list over the names that matter (every spelling of the special ones, hop-by-hop names,
names a ``Connection`` header lists), :func:`build_request_head` writes what the straightforward lower-case scan
(the code before the memo, kept here as the oracle) writes, and the response filter keeps what that scan kept. The
memo is cleared when full, so the same holds after thousands of distinct names.
"""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from hanzo_edge.http.forwarded import MANAGED_HEADERS
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request
from hanzo_edge.http.proxy import STRIPPED_UPSTREAM, build_request_head
from hanzo_edge.http.tracecontext import child_traceparent
from hanzo_edge.http.upstream import HOP_BY_HOP, UpstreamConnection, connection_tokens

NAMES = [
    b"Host",
    b"host",
    b"HOST",
    b"X-Forwarded-For",
    b"x-forwarded-for",
    b"Connection",
    b"connection",
    b"Upgrade",
    b"TE",
    b"te",
    b"Traceparent",
    b"Keep-Alive",
    b"Transfer-Encoding",
    b"Content-Length",
    b"Expect",
    b"Date",
    b"date",
    b"X-A",
    b"x-a",
    b"X-B",
    b"Accept",
]
VALUES = [
    b"v",
    b"trailers",
    b"keep-alive",
    b"Keep-Alive",
    b"close",
    b"x-a",
    b"X-B, accept",
    b"close, x-a",
    b"upgrade",
    b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
]
FIELDS = st.lists(st.tuples(st.sampled_from(NAMES), st.sampled_from(VALUES)), max_size=12)


def reference_head(req: Request, server_host: bytes, pass_host_header: bool) -> bytes:
    """The header part of the upstream head as the lower-case scan wrote it (before the memo)."""
    parts: list[bytes] = []
    host = server_host
    prior_xff: list[bytes] = []
    tokens: set[bytes] | None = None
    upgrade_value: bytes | None = None
    keep_te = False
    for name, value in req.headers.raw:
        lname = name.lower()
        if lname in STRIPPED_UPSTREAM:
            if lname == b"host":
                if pass_host_header:
                    host = value
            elif lname == b"x-forwarded-for":
                prior_xff.append(value)
            elif lname == b"connection":
                named = connection_tokens(value) - MANAGED_HEADERS - HOP_BY_HOP
                if named:
                    tokens = named if tokens is None else tokens | named
                    kept: list[bytes] = []
                    for i in range(0, len(parts), 4):
                        if parts[i].lower() not in tokens:
                            kept += parts[i : i + 4]
                    parts = kept
            elif lname == b"upgrade":
                upgrade_value = value
            elif lname == b"te" and b"trailers" in value.lower():
                keep_te = True
            elif lname == b"traceparent":
                child = child_traceparent(value)
                if child is not None:
                    parts += (b"traceparent", b": ", b"<child>", b"\r\n")
            continue
        if tokens is not None and lname in tokens:
            continue
        parts += (name, b": ", value, b"\r\n")
    out = b"Host: " + host + b"\r\n" + b"".join(parts)
    if prior_xff:
        out += b"X-Forwarded-For: " + b", ".join(prior_xff) + b", 10.0.0.9\r\n"
    else:
        out += b"X-Forwarded-For: 10.0.0.9\r\n"
    if keep_te:
        out += b"Te: trailers\r\n"
    if req.upgrade and upgrade_value is not None:
        out += b"Connection: Upgrade\r\nUpgrade: " + upgrade_value + b"\r\n"
    return out


def written_fields(head: bytes) -> bytes:
    """The fields of a head our builder wrote, traceparent children masked (their span id is random)."""
    fields = head.split(b"\r\n", 1)[1].rsplit(b"\r\n\r\n", 1)[0] + b"\r\n"
    lines = [b"traceparent: <child>" if ln.startswith(b"traceparent: ") else ln for ln in fields.split(b"\r\n")]
    return b"\r\n".join(line for line in lines if not line.startswith(b"Content-Length: "))


@settings(max_examples=400, deadline=None)
@given(fields=FIELDS, pass_host=st.booleans(), upgrade=st.booleans())
def test_the_upstream_head_is_the_lower_case_scans(
    fields: list[tuple[bytes, bytes]], pass_host: bool, upgrade: bool
) -> None:
    req = Request("GET", "/p", Headers(list(fields)), client_ip="10.0.0.9", upgrade=upgrade)
    head, _ = build_request_head(req, b"backend:80", pass_host, "")
    assert head.startswith(b"GET /p HTTP/1.1\r\n")
    assert written_fields(head) == reference_head(req, b"backend:80", pass_host)


def reference_filter(fields: list[tuple[bytes, bytes]], status: int) -> list[tuple[bytes, bytes]]:
    out = []
    tokens: set[bytes] | None = None
    upgrade = status == 101
    for name, value in fields:
        lname = name.lower()
        if lname in HOP_BY_HOP:
            if lname == b"connection":
                listed = connection_tokens(value) - HOP_BY_HOP - {b"close"}
                if listed:
                    tokens = listed if tokens is None else tokens | listed
            elif upgrade and lname == b"upgrade":
                out.append((name, value))
            continue
        out.append((name, value))
    if tokens:
        out = [p for p in out if p[0].lower() not in tokens or (upgrade and p[0].lower() == b"upgrade")]
    return out


@settings(max_examples=400, deadline=None)
@given(fields=FIELDS, status=st.sampled_from([101, 200]))
def test_the_response_filter_keeps_what_the_lower_case_scan_kept(
    fields: list[tuple[bytes, bytes]], status: int
) -> None:
    fields = [(n, b"7" if n.lower() == b"content-length" else v) for n, v in fields]

    async def filtered() -> UpstreamConnection:
        conn = UpstreamConnection()
        conn._headers = list(fields)
        assert conn._filter_headers(status) == reference_filter(fields, status)
        return conn

    conn = asyncio.run(filtered())
    assert conn._has_date == any(n.lower() == b"date" for n, _ in fields)
    assert conn._resp_is_chunked == any(n.lower() == b"transfer-encoding" for n, _ in fields)


def test_the_memo_stays_right_once_cleared() -> None:
    for i in range(5000):  # past the memo's 4096 names: it is cleared and refilled
        req = Request("GET", "/", Headers([(b"X-N%d" % i, b"v"), (b"Host", b"h")]), client_ip="10.0.0.9")
        head, _ = build_request_head(req, b"backend", True, "")
        assert written_fields(head) == reference_head(req, b"backend", True)
