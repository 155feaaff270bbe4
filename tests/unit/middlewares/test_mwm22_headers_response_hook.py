"""Issue 22: the ``headers`` middleware's usual response hook is one native call (``_headers_response.py``).

A configuration with no CORS options whose only security response header is STS (the "full product" bench's
``customResponseHeaders`` + ``stsSeconds``) offers a :class:`ResponseHeaderEdits` as its fused response hook; any
other keeps the method. ``tests/unit/test_full22_fused_heads.py`` checks under Hypothesis that either does what the
middleware's ``__call__`` does; these pin which configurations get which, and the edits themselves. The same tests
run against the compiled tree in ``make test-compiled``.
"""

from __future__ import annotations

from typing import Any

import pytest

from hanzo_edge.config.middlewares import Headers as HeadersConfig
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.middlewares._headers_response import ResponseHeaderEdits
from hanzo_edge.middlewares.base import BuildContext
from hanzo_edge.middlewares.headers import HeadersMiddleware

BENCH = {"custom_response_headers": {"X-Served-By": "edge"}, "sts_seconds": 31536000}


async def _backend(req: Request) -> Response:
    return Response(200)


def _hook(**options: Any) -> Any:
    layer = HeadersMiddleware(_backend, HeadersConfig(**options), name="h", ctx=BuildContext())
    assert layer.head_hooks is not None
    return layer.head_hooks.on_response


def _response(status: int = 200) -> Response:
    fields = [(b"Server", b"nginx"), (b"x-served-by", b"backend"), (b"Vary", b"Accept"), (b"X-SERVED-BY", b"again")]
    return Response(status, Headers(fields), b"ok")


@pytest.mark.parametrize(
    "options",
    [
        BENCH,
        {"custom_response_headers": {"X-Served-By": "edge"}},
        {"sts_seconds": 60, "force_sts_header": True},
        {"custom_request_headers": {"X-Script": "1"}, "custom_response_headers": {"Server": ""}},
        {"sts_seconds": 60, "allowed_hosts": ["a.example"]},  # a host check before the backend, STS after it
    ],
)
def test_usual_configurations_get_the_native_hook(options: dict[str, Any]) -> None:
    assert type(_hook(**options)) is ResponseHeaderEdits


@pytest.mark.parametrize(
    "options",
    [
        {**BENCH, "access_control_allow_origin_list": ["*"]},  # CORS headers depend on the request's Origin
        {**BENCH, "frame_deny": True},  # more security headers than STS
        {"sts_seconds": 60, "ssl_host": "a.example"},  # a Location fix-up on HTTPS
        {"content_security_policy": "script-src $NONCE"},  # a nonce per response
    ],
)
def test_other_configurations_keep_the_method(options: dict[str, Any]) -> None:
    assert type(_hook(**options)) is not ResponseHeaderEdits


@pytest.mark.parametrize(("scheme", "sts"), [("http", False), ("https", True)])
def test_the_bench_configuration_sets_its_header_and_sts_on_https_only(scheme: str, sts: bool) -> None:
    hook = _hook(**BENCH)
    response = _response()
    hook(Request("GET", "/", Headers([(b"Host", b"a.example")]), scheme=scheme), response)
    expected = [(b"Server", b"nginx"), (b"X-Served-By", b"edge"), (b"Vary", b"Accept")]
    if sts:
        expected.append((b"Strict-Transport-Security", b"max-age=31536000"))
    # The backend's X-Served-By fields (any case) are replaced at the first one's place; STS is appended first, as
    # the security layer (inside the custom headers) adds it before the custom headers are set.
    assert response.headers.raw == expected


def test_forced_sts_an_empty_value_deletes_and_an_interim_response_is_left_alone() -> None:
    hook = _hook(custom_response_headers={"Server": "", "X-A": "1"}, sts_seconds=60, force_sts_header=True)
    req = Request("GET", "/", Headers([(b"Host", b"a.example")]))
    response = _response()
    hook(req, response)
    assert response.headers.raw == [
        (b"x-served-by", b"backend"),
        (b"Vary", b"Accept"),
        (b"X-SERVED-BY", b"again"),
        (b"Strict-Transport-Security", b"max-age=60"),
        (b"X-A", b"1"),
    ]
    interim = _response(101)
    hook(req, interim)
    assert interim.headers.raw == _response(101).headers.raw
