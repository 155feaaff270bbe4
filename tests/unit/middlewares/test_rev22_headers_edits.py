"""Review of issue 22's native headers response hook (``ResponseHeaderEdits``): no behaviour change, Traefik's rules.

``test_full22_fused_heads`` compares the fused hooks with ``__call__`` for a fixed backend response. Here the backend
response itself is drawn (the custom and STS headers already present, several times, in any case, or absent; 1xx,
2xx, 5xx statuses), and so are the request's TLS state (``req.tls`` on an ``http`` scheme, as a TLS connection with
no scheme override has it) and the STS options (``stsPreload``, ``stsIncludeSubdomains``, ``isDevelopment``): for every
configuration the native hook serves, its edits equal what the middleware's own ``__call__`` does. The Traefik rules
themselves (unrolled/secure: STS only on HTTPS unless ``forceSTSHeader``; ``isDevelopment`` drops it; an empty
custom value deletes every field of that name) are pinned by name below.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hanzo_edge.config.middlewares import Headers as HeadersConfig
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.middlewares._headers_response import ResponseHeaderEdits
from hanzo_edge.middlewares.base import BuildContext
from hanzo_edge.middlewares.headers import HeadersMiddleware

FIELD_NAMES = st.sampled_from(
    [
        b"X-Served-By",
        b"x-served-by",
        b"X-SERVED-BY",
        b"Strict-Transport-Security",
        b"strict-transport-security",
        b"Vary",
    ]
)
FIELDS = st.lists(st.tuples(FIELD_NAMES, st.sampled_from([b"backend", b"max-age=1", b""])), max_size=5)

CONFIGS = st.fixed_dictionaries(
    {},
    optional={
        "custom_response_headers": st.dictionaries(
            st.sampled_from(["X-Served-By", "x-served-by", "Vary", "Strict-Transport-Security", "X-New"]),
            st.sampled_from(["edge", "", "a\r\nb"]),
            max_size=3,
        ),
        "sts_seconds": st.sampled_from([0, 60, 31536000]),
        "sts_include_subdomains": st.booleans(),
        "sts_preload": st.booleans(),
        "force_sts_header": st.booleans(),
        "is_development": st.booleans(),
    },
)


def _layer(backend: Any, options: dict[str, Any]) -> HeadersMiddleware | None:
    try:
        return HeadersMiddleware(backend, HeadersConfig(**options), name="h", ctx=BuildContext())
    except ValueError:
        return None  # "headers configuration not valid": nothing configured


def _request(tls: bool, scheme: str) -> Request:
    req = Request("GET", "/", Headers([(b"Host", b"a.example")]), host="a.example", scheme=scheme)
    req.tls = tls
    return req


@settings(max_examples=400, deadline=None)
@given(
    options=CONFIGS,
    fields=FIELDS,
    status=st.sampled_from([101, 103, 200, 204, 304, 404, 502]),
    tls=st.booleans(),
    scheme=st.sampled_from(["http", "https"]),
)
def test_native_response_hook_equals_the_middleware_call(
    options: dict[str, Any], fields: list[tuple[bytes, bytes]], status: int, tls: bool, scheme: str
) -> None:
    async def backend(req: Request) -> Response:
        return Response(status, Headers(list(fields)), b"x")

    layer = _layer(backend, options)
    if layer is None or layer.head_hooks is None:
        return
    hook = layer.head_hooks.on_response
    if not isinstance(hook, ResponseHeaderEdits):
        return  # the method: compared with __call__ by test_full22_fused_heads
    expected = asyncio.run(layer(_request(tls, scheme)))
    response = Response(status, Headers(list(fields)), b"x")
    hook(_request(tls, scheme), response)
    assert response.headers.raw == expected.headers.raw


def _edits(**options: Any) -> ResponseHeaderEdits:
    layer = _layer(None, options)
    assert layer is not None
    assert layer.head_hooks is not None
    hook = layer.head_hooks.on_response
    assert isinstance(hook, ResponseHeaderEdits)
    return hook


def _apply(hook: ResponseHeaderEdits, fields: list[tuple[bytes, bytes]], *, tls: bool, status: int = 200) -> Any:
    response = Response(status, Headers(list(fields)))
    hook(_request(tls, "http"), response)
    return response.headers.raw


def test_sts_only_over_tls_unless_forced_and_preload_does_not_force() -> None:
    preload = _edits(sts_seconds=60, sts_preload=True, sts_include_subdomains=True)
    assert _apply(preload, [], tls=False) == []
    assert _apply(preload, [], tls=True) == [(b"Strict-Transport-Security", b"max-age=60; includeSubDomains; preload")]
    forced = _edits(sts_seconds=60, force_sts_header=True)
    assert _apply(forced, [], tls=False) == [(b"Strict-Transport-Security", b"max-age=60")]


def test_sts_replaces_what_the_backend_sent_and_is_development_drops_it() -> None:
    backend = [(b"strict-transport-security", b"max-age=1"), (b"X-A", b"1"), (b"Strict-Transport-Security", b"x")]
    hook = _edits(sts_seconds=60)
    assert _apply(hook, backend, tls=True) == [(b"Strict-Transport-Security", b"max-age=60"), (b"X-A", b"1")]
    dev = _edits(sts_seconds=60, force_sts_header=True, is_development=True, custom_response_headers={"X-B": "2"})
    assert _apply(dev, backend, tls=True) == [*backend, (b"X-B", b"2")]


def test_empty_custom_value_deletes_every_field_of_that_name_and_interim_responses_are_untouched() -> None:
    hook = _edits(custom_response_headers={"x-served-by": "", "X-Cache": "edge"})
    backend = [(b"X-Served-By", b"a"), (b"x-served-by", b"b"), (b"X-Cache", b"1"), (b"X-CACHE", b"2")]
    assert _apply(hook, backend, tls=False) == [(b"X-Cache", b"edge")]
    assert _apply(hook, backend, tls=False, status=103) == backend
    assert _apply(hook, backend, tls=False, status=502) == [(b"X-Cache", b"edge")]
