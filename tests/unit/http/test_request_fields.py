"""What middlewares tell later stages travels in typed ``Request`` slots, not string keys of a dict."""

from __future__ import annotations

import pytest

from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request
from hanzo_edge.http.proxy import build_request_head


def _request() -> Request:
    return Request("GET", "/", Headers([(b"Host", b"app.test")]), host="app.test", client_ip="10.0.0.7")


def test_annotations_are_slots_whose_defaults_say_nothing_happened() -> None:
    req = _request()
    assert not hasattr(req, "__dict__")  # slotted: a misspelt annotation is an AttributeError, not a new key
    assert (req.client_username, req.retry_attempts, req.omit_forwarded_for, req.answer) == ("", None, False, 0)
    assert (req.route, req.trace) == (None, None)
    with pytest.raises(AttributeError):
        req.client_user = "x"  # type: ignore[attr-defined]


def test_the_proxy_omits_x_forwarded_for_on_the_typed_flag() -> None:
    req = _request()
    head, _ = build_request_head(req, b"10.0.0.1:80", True, "")
    assert b"X-Forwarded-For: 10.0.0.7\r\n" in head
    req.omit_forwarded_for = True
    head, _ = build_request_head(req, b"10.0.0.1:80", True, "")
    assert b"X-Forwarded-For" not in head
