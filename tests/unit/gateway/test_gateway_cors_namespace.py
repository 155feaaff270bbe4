"""The ``security/cors`` handler: gateway.json block → ``krakendCors`` options wrapping the whole router."""

from __future__ import annotations

import pytest

from hanzo_edge.gateway.errors import GatewayConfigError
from hanzo_edge.gateway.extra_config import handler_for
from hanzo_edge.middlewares.krakend_cors import KrakendCorsConfig

WHERE = ("extra_config", "security/cors")


def test_cors_is_service_level_only() -> None:
    assert handler_for("security/cors", "endpoint") is None


def test_block_with_krakend_defaults_wraps_the_router() -> None:
    registered = handler_for("security/cors", "service")
    assert registered is not None
    result = registered.handler({"allow_methods": ["GET", "POST"], "max_age": "12h", "expose_headers": ["X-Id"]}, WHERE)

    assert result.settings == {"before_routing": True}
    (middleware,) = result.middlewares
    assert middleware.kind == "krakendCors"
    assert middleware.options == KrakendCorsConfig(
        allow_origins=("*",),
        allow_methods=("GET", "POST"),
        allow_headers=("Origin",),  # KrakenD: [] by default, Origin always appended (not "every header")
        expose_headers=("X-Id",),
        max_age=43200,
    )


@pytest.mark.parametrize(
    ("block", "key"),
    [
        ({"allow_origins": "*"}, "allow_origins"),
        ({"max_age": "forever"}, "max_age"),
        ({"allow_credentials": 1}, "allow_credentials"),
    ],
)
def test_bad_values_are_errors_at_their_path(block: dict[str, object], key: str) -> None:
    registered = handler_for("security/cors", "service")
    assert registered is not None
    with pytest.raises(GatewayConfigError) as caught:
        registered.handler(block, WHERE)
    assert caught.value.path == (*WHERE, key)


def test_credentials_with_every_origin_is_warned() -> None:
    registered = handler_for("security/cors", "service")
    assert registered is not None

    result = registered.handler({"allow_credentials": True}, WHERE)
    assert [w.path[-1] for w in result.warnings] == ["allow_credentials"]


def test_allow_headers_default_and_origin_appended_as_krakend() -> None:
    # Before the fix an absent allow_headers allowed every header (a preflight asking for Authorization passed);
    # KrakenD's default is [] with Origin always appended, and Origin is appended to a configured list too.
    import asyncio

    from hanzo_edge.http.headers import Headers
    from hanzo_edge.http.messages import Request, Response
    from hanzo_edge.middlewares.base import BuildContext
    from hanzo_edge.middlewares.krakend_cors import KrakendCors

    registered = handler_for("security/cors", "service")
    assert registered is not None

    async def ok(req: Request) -> Response:
        return Response(200)

    def preflight(block: dict[str, object], asked: str) -> list[str]:
        (middleware,) = registered.handler(block, WHERE).middlewares
        cors = KrakendCors(ok, middleware.options, name="cors", ctx=BuildContext())
        req = Request("OPTIONS", "/x", Headers(), host="gw.test")
        req.headers.add("Origin", "https://app.test")
        req.headers.add("Access-Control-Request-Method", "GET")
        req.headers.add("Access-Control-Request-Headers", asked)
        response = asyncio.run(cors(req))
        assert response.status == 204
        return [name for name, _ in response.headers if name.lower().startswith("access-control-allow")]

    assert preflight({}, "Authorization") == []
    assert preflight({}, "Origin") != []
    assert preflight({"allow_headers": ["Authorization"]}, "Authorization, Origin") != []
    assert preflight({"allow_headers": ["*"]}, "X-Anything") != []
