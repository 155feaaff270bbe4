"""Middleware and service kinds plug in by configuration model, from outside the registry modules.

The done-when test of issue 10's typed seams: this file declares a middleware kind and a service kind (a model, a
factory, one registration each), builds a router that uses both and serves a request through it, without editing a
union or an ``elif``. The router and a Traefik middleware come from YAML; the new kinds join as typed configuration
(``middleware_of`` / ``service_of``), because a Traefik file must keep warning about keys Traefik does not know.
"""

from __future__ import annotations

import asyncio
import typing
from collections.abc import Awaitable
from typing import Any

import msgspec
import pytest
import yaml

from hanzo_edge.config.dynamic import Configuration, decode_dynamic
from hanzo_edge.config.errors import ConfigError
from hanzo_edge.config.middlewares import Middleware, StripPrefix, traefik_kinds
from hanzo_edge.config.services import LoadBalancer, Server, Service
from hanzo_edge.config.types import FrozenDict
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.http.pool import PoolRegistry, TransportOptions
from hanzo_edge.middlewares.base import (
    REGISTRY,
    BuildContext,
    MiddlewareKind,
    add_kind,
    factory_for,
    kind_of,
    middleware_of,
    register,
)
from hanzo_edge.middlewares.strip_prefix import StripPrefix as StripPrefixMiddleware
from hanzo_edge.routing.build import BuildResult, build_tables
from hanzo_edge.routing.service_builder import service_of
from hanzo_edge.services.registry import ServiceContext, ServiceKind, register_service, service_kind_of

# -- a middleware kind: stamps a response header --------------------------------------------------------------------


class Stamp(msgspec.Struct, frozen=True, kw_only=True):
    header: str
    value: str


class StampMiddleware:
    def __init__(self, next: Handler, config: Stamp, *, name: str, ctx: BuildContext) -> None:
        if not config.header:
            raise ValueError("header cannot be empty")
        self.next, self.header, self.value = next, config.header, config.value

    async def __call__(self, req: Request) -> Response:
        response = await self.next(req)
        response.headers.set(self.header, self.value)
        return response


STAMP = add_kind(MiddlewareKind("stamp", Stamp, StampMiddleware))


# -- a service kind: answers with a canned body naming the path it got, or asks a child service --------------------


class Canned(msgspec.Struct, frozen=True, kw_only=True):
    text: str
    status: int = 200
    delegate: str = ""  # a child service, to show references resolve like Traefik's kinds


def build_canned(config: Canned, ctx: ServiceContext) -> Handler:
    child = ctx.service(config.delegate) if config.delegate else None

    def answer(req: Request) -> Awaitable[Response]:
        if child is not None and req.path.startswith("/child"):
            return child(req)
        return _canned(config.status, f"{config.text} {req.path} from {ctx.name}")

    return answer


async def _canned(status: int, text: str) -> Response:
    return Response.text(status, text)


CANNED = register_service(
    ServiceKind("canned", Canned, build_canned, children=lambda c: (c.delegate,) if c.delegate else ())
)


# -- the router: YAML for what Traefik knows, typed configuration for the new kinds --------------------------------

ROUTER_YAML = """
http:
  routers:
    app:
      rule: Host(`app.test`)
      service: answer
      middlewares: [strip, stamp]
  middlewares:
    strip:
      stripPrefix:
        prefixes: [/api]
"""


def _config(**canned: Any) -> Configuration:
    config, warnings = decode_dynamic(yaml.safe_load(ROUTER_YAML))
    assert warnings == []
    http = config.http
    middlewares = {**http.middlewares, "stamp": middleware_of(Stamp(header="X-Stamp", value="typed"))}
    services = {
        **http.services,
        "answer": service_of(Canned(text="hello", **canned)),
        "other": service_of(Canned(text="other", status=202)),
    }
    http = msgspec.structs.replace(http, middlewares=FrozenDict(middlewares), services=FrozenDict(services))
    return msgspec.structs.replace(config, http=http)


def _build(config: Configuration, previous: BuildResult | None = None) -> BuildResult:
    return build_tables({"file": config}, ["web"], ["web"], PoolRegistry(), TransportOptions(), previous=previous)


def _serve(result: BuildResult, path: str) -> Response:
    req = Request("GET", path, Headers([(b"Host", b"app.test")]), host="app.test")
    handler = result.tables["web"].lookup(req)

    async def call() -> Response:
        return await handler(req)

    return asyncio.run(call())


def test_a_router_serves_through_a_middleware_kind_and_a_service_kind_registered_outside_the_registries() -> None:
    result = _build(_config(delegate="other"))
    assert result.errors == {}
    (route,) = result.tables["web"].routes
    assert route.middlewares == ("strip@file", "stamp@file")

    response = _serve(result, "/api/users")
    assert (response.status, response.body) == (200, b"hello /users from answer@file")
    assert response.headers.get("X-Stamp") == "typed"

    child = _serve(result, "/child")  # the reference resolved in the provider, as weighted/failover children do
    assert (child.status, child.body) == (202, b"other /child from other@file")


def test_new_kinds_are_named_like_traefiks_and_memoised_like_them() -> None:
    config = _config()
    assert config.http.middlewares["stamp"].kind == "stamp"
    assert config.http.services["answer"].kind == "canned"
    first = _build(config)
    again = _build(_config(), previous=first)
    assert again.reused_services == 1  # an equal typed model keeps its handler (and state) across generations
    assert again.reused_middlewares == 2
    changed = _build(_config(status=201), previous=again)
    assert changed.reused_services == 0
    assert _serve(changed, "/x").status == 201


def test_a_factory_rejecting_its_typed_config_disables_the_router_with_the_usual_error() -> None:
    config = _config()
    middlewares = {**config.http.middlewares, "stamp": middleware_of(Stamp(header="", value="x"))}
    http = msgspec.structs.replace(config.http, middlewares=FrozenDict(middlewares))
    result = _build(msgspec.structs.replace(config, http=http))
    assert result.tables["web"].routes == ()
    assert result.errors["app@file"] == ['middleware "stamp@file": header cannot be empty']


def test_a_traefik_file_naming_a_registered_kind_still_gets_traefiks_warning_and_error() -> None:
    # Registering "stamp" does not teach the Traefik decoder a key Traefik does not have.
    with pytest.raises(ConfigError, match=r"exactly one of addPrefix, stripPrefix, .* must be set, got none"):
        decode_dynamic({"http": {"middlewares": {"m": {"stamp": {"header": "a", "value": "b"}}}}})
    _, warnings = decode_dynamic({"http": {"middlewares": {"m": {"stamp": {}, "addPrefix": {"prefix": "/a"}}}}})
    assert [w.message for w in warnings] == ["unknown option (ignored)"]


def test_kinds_are_found_by_model_type() -> None:
    assert kind_of(Stamp(header="a", value="b")) is STAMP
    strip = kind_of(StripPrefix())
    assert strip is not None
    assert strip.factory is StripPrefixMiddleware
    assert factory_for("stripPrefix") is StripPrefixMiddleware
    assert service_kind_of(Canned(text="")) is CANNED
    assert service_kind_of(LoadBalancer(servers=(Server(url="http://a"),))) is not None
    # Traefik's models wrap into Traefik's union member, not an extension.
    assert middleware_of(StripPrefix(prefixes=("/a",))) == Middleware(strip_prefix=StripPrefix(prefixes=("/a",)))
    assert service_of(LoadBalancer()) == Service(load_balancer=LoadBalancer())


def test_every_traefik_kind_is_registered_under_its_own_model_except_those_not_served() -> None:
    missing = {name for name, model in traefik_kinds().items() if kind_of(model()) is None}
    assert missing == {"chain"}  # chain is expanded by the builder
    for name, model in traefik_kinds().items():
        kind = kind_of(model())
        if kind is not None:
            assert kind.model is model
            assert factory_for(name) is kind.factory


def test_a_taken_name_or_model_is_refused() -> None:
    with pytest.raises(ValueError, match='"stamp"'):
        add_kind(MiddlewareKind("stamp", Canned, StampMiddleware))  # a taken name with another model
    with pytest.raises(ValueError, match=r"\(Canned\) is already registered"):
        register_service(ServiceKind("canned2", Canned, build_canned))  # a taken model under another name
    with pytest.raises(ValueError, match="not a Traefik middleware kind"):
        register("notTraefik")  # a kind Traefik lacks must bring its model


def test_typed_factories_declare_the_model_they_are_registered_for() -> None:
    typed = []
    for kind in {id(k): k for k in REGISTRY.values()}.values():
        target = kind.factory.__init__ if isinstance(kind.factory, type) else kind.factory
        hint = typing.get_type_hints(target).get("config", Any)
        if hint is not Any:  # buffering, compress, forwardAuth and retry still take Any (their modules move first)
            assert hint is kind.model, kind.name
            typed.append(kind.name)
    assert len(typed) >= 18
