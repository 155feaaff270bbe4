"""Review 3 (issue 22): the JSON renderer's usual-request literal escapes hostile values exactly as the general path.

Header values, paths, hosts and router names with quotes, backslashes, control characters and bytes that are not
UTF-8 (decoded as Latin-1, as the server does): both paths must give the same bytes, and the line must be one JSON
object that reads back to the values given.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request
from hanzo_edge.observability.accesslog import AccessLog
from hanzo_edge.observability.accesslog import formats as formats_module
from hanzo_edge.observability.accesslog.codegen import Renderer

NOW_NS = 1_700_000_000_500_000_000

HOSTILE_BYTES = st.binary(min_size=1, max_size=40).filter(
    lambda b: b"\r" not in b and b"\n" not in b
) | st.sampled_from(
    [b'"', b"\\", b'\\"}{', b"\x00\x01\x1f\x7f", b"\xff\xfe", b"\xc3\xa9", b"\xe2\x80\xa8", b"</script>"]
)
HOSTILE_TEXT = HOSTILE_BYTES.map(lambda b: b.decode("latin-1"))


@dataclass
class Route:
    name: str
    service: str


def _renderers() -> tuple[Renderer, Renderer]:
    fast = AccessLog(format="json", stream=None, wall_ns=lambda: NOW_NS, headers_default="keep")._render
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(formats_module, "_COMMON_CASE", {})
        general = AccessLog(format="json", stream=None, wall_ns=lambda: NOW_NS, headers_default="keep")._render
    return fast, general


FAST, GENERAL = _renderers()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(
    agent=HOSTILE_BYTES,
    custom=HOSTILE_BYTES,
    path=HOSTILE_TEXT,
    host=HOSTILE_TEXT,
    router=HOSTILE_TEXT,
    usual=st.booleans(),
)
def test_hostile_values_render_the_same_on_both_paths(
    agent: bytes, custom: bytes, path: str, host: str, router: str, usual: bool
) -> None:
    req = Request(
        "GET",
        path,
        Headers([(b"Host", host.encode("latin-1")), (b"User-Agent", agent), (b"X-Custom", custom)]),
        path=path,
        query="",
        host=host,
        client_ip="10.0.0.1",
        client_port=1234,
        entry_point="web",
    )
    if usual:  # routed and proxied: the literal's case
        req.route = Route(router, "svc@file")  # type: ignore[assignment]
        req.server_url = "http://10.0.0.2:80"
    args = (req, 200, 10, 0.0123, 0, "-", 7)
    line = FAST(*args)
    assert line == GENERAL(*args)
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1  # one line, whatever the values hold
    parsed = json.loads(line)
    assert parsed["request_User-Agent"] == agent.decode("latin-1")
    assert parsed["request_X-Custom"] == custom.decode("latin-1")
    assert parsed["RequestPath"] == path
    if usual:
        assert parsed["RouterName"] == router
