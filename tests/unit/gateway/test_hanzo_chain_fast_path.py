"""The Hanzo chain's one-pass fast path: a request it lets skip the strip, the token lookup and the widget gate is one
for which each of them would have done nothing."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hanzo_edge.gateway.hanzo.chain import _may_carry_credentials
from hanzo_edge.gateway.hanzo.identity import request_token, strip_identity_headers
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request

_NAMES = st.sampled_from(
    [
        "Host",
        "Accept",
        "User-Agent",
        "X-Forwarded-For",
        "x-forwarded-host",
        "X-Forwarded-Proto",
        "X-Real-Ip",
        "X-User-Id",
        "x_user_id",
        "X-Hanzo-Org",
        "X-IAM-Roles",
        "X-Gateway-Thing",
        "X-Request-Id",
        "Authorization",
        "X-Authorization",
        "Cookie",
        "COOKIE",
    ]
)
_VALUES = st.sampled_from(["", "x", "Bearer abc", "Bearer hz_1", "access_token=t", "hanzo_token=u; a=b"])


def _req(headers: list[tuple[str, str]]) -> Request:
    return Request("GET", "/", Headers([(n.encode(), v.encode()) for n, v in headers]))


@given(st.lists(st.tuples(_NAMES, _VALUES), max_size=10))
def test_the_fast_path_skips_only_what_would_do_nothing(headers: list[tuple[str, str]]) -> None:
    req = _req(headers)
    if _may_carry_credentials(req.headers.raw):
        return
    before = list(req.headers.raw)
    strip_identity_headers(req)
    assert req.headers.raw == before
    assert request_token(req) == ""
    assert req.headers.get("Authorization") is None
    assert req.headers.get("X-Authorization") is None


def test_credentials_and_identity_headers_take_the_full_path() -> None:
    for name in ("Authorization", "x-authorization", "Cookie", "X-User-Id", "X_Hanzo_Org", "X-Request-Id"):
        assert _may_carry_credentials([(name.encode(), b"v")]), name
    entrypoint = [(b"Host", b"h"), (b"X-Forwarded-For", b"1.2.3.4"), (b"X-Real-Ip", b"1.2.3.4"), (b"Accept", b"*/*")]
    assert not _may_carry_credentials(entrypoint)
