"""W3C traceparent propagation: same trace id and flags, a new span id; invalid values are dropped."""

from __future__ import annotations

import pytest

from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request
from hanzo_edge.http.proxy import build_request_head
from hanzo_edge.http.tracecontext import child_traceparent, parse_traceparent

VALID = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_child_keeps_trace_id_and_flags_with_a_new_span_id() -> None:
    child = child_traceparent(VALID)
    assert child is not None
    assert child[:36] == VALID[:36]
    assert child[-3:] == b"-01"
    assert child[36:52] != VALID[36:52]
    assert parse_traceparent(child) is not None
    assert child_traceparent(VALID) != child, "every hop gets its own span id"


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", id="no-flags"),
        pytest.param(b"00-00000000000000000000000000000000-00f067aa0ba902b7-01", id="zero-trace"),
        pytest.param(b"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", id="zero-parent"),
        pytest.param(b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", id="upper-case"),
        pytest.param(b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", id="version-ff"),
        pytest.param(VALID + b"-extra", id="v00-with-extra"),
    ],
)
def test_invalid_traceparent_is_rejected(value: bytes) -> None:
    assert child_traceparent(value) is None


def test_future_version_with_extra_fields_is_accepted() -> None:
    assert parse_traceparent(b"01" + VALID[2:] + b"-what-the-future-holds") is not None


def test_proxy_forwards_a_child_traceparent_and_the_tracestate() -> None:
    headers = Headers([(b"Host", b"a"), (b"traceparent", VALID), (b"tracestate", b"vendor=1")])
    head, _ = build_request_head(Request("GET", "/", headers, path="/"), b"a", True, "")
    lines = head.split(b"\r\n")
    sent = [line for line in lines if line.lower().startswith(b"traceparent:")]
    assert len(sent) == 1
    assert sent[0].split(b": ", 1)[1][:36] == VALID[:36]
    assert b"tracestate: vendor=1" in lines


def test_proxy_drops_an_invalid_traceparent() -> None:
    headers = Headers([(b"Host", b"a"), (b"traceparent", b"garbage")])
    head, _ = build_request_head(Request("GET", "/", headers, path="/"), b"a", True, "")
    assert b"traceparent" not in head.lower()
