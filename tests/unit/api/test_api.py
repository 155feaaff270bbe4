"""The ``/api/*`` endpoints and the dashboard files, answered by ApiHandler from a RuntimeView of a real build.

The fixture configuration has an enabled router with a middleware, a router whose service is missing (disabled), a
router naming an unknown entrypoint (warning), an internal ``ping@internal`` router, a load balancer with one server
marked down, an unused weighted service, a plain TCP router and a TCP router whose ``HostSNI`` rule needs TLS. Each
endpoint's answer is compared with a golden JSON *shape*: the same keys, with values replaced by their JSON types.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import orjson
import pytest

from hanzo_edge.api.handlers import ApiHandler, dashboard_assets
from hanzo_edge.api.runtime import RuntimeView, ViewCache, to_json
from hanzo_edge.config.dynamic import Configuration, decode_dynamic
from hanzo_edge.config.static import Api, EntryPoint, FileProviderConfig, Metrics, Prometheus, Providers, StaticConfig
from hanzo_edge.config.types import FrozenDict
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.http.pool import PoolRegistry, TransportOptions
from hanzo_edge.routing.build import BuildResult, build_tables
from hanzo_edge.routing.table import Route

STATIC = StaticConfig(
    entry_points=FrozenDict({"web": EntryPoint(address=":80"), "admin": EntryPoint(address=":9090")}),
    api=Api(),
    metrics=Metrics(prometheus=Prometheus()),
    providers=Providers(file=FileProviderConfig(filename="dynamic.yml")),
)

DYNAMIC = {
    "http": {
        "routers": {
            "web-app": {"rule": "Host(`app.test`)", "service": "app", "middlewares": ["strip"], "entryPoints": ["web"]},
            "broken": {"rule": "Host(`broken.test`)", "service": "missing", "entryPoints": ["web"]},
            "partial": {"rule": "PathPrefix(`/p`)", "service": "app", "entryPoints": ["web", "nope"]},
        },
        "services": {
            "app": {
                "loadBalancer": {
                    "servers": [{"url": "http://127.0.0.1:9001"}, {"url": "http://127.0.0.1:9002"}],
                    "passHostHeader": False,
                }
            },
            "spare": {"weighted": {"services": [{"name": "app", "weight": 2}]}},
        },
        "middlewares": {
            "strip": {"stripPrefix": {"prefixes": ["/api"]}},
            "idle": {"addPrefix": {"prefix": "/v1"}},
        },
    },
    "tcp": {
        "routers": {
            "db": {"rule": "HostSNI(`*`)", "service": "db", "entryPoints": ["web"]},
            "sni": {"rule": "HostSNI(`db.test`)", "service": "db", "entryPoints": ["web"]},
        },
        "services": {"db": {"loadBalancer": {"servers": [{"address": "127.0.0.1:5432"}]}}},
    },
}

BROKEN_ERROR = 'the service "missing@file" does not exist'


async def _ping(req: Request) -> Response:
    return Response(200, body=b"OK")


def build() -> tuple[dict[str, Configuration], BuildResult]:
    """The fixture's snapshots and build result (server 9002 of app@file is DOWN)."""
    config, warnings = decode_dynamic(DYNAMIC)
    assert warnings == []
    snapshots = {"file": config}
    ping = Route(
        "ping@internal", 2**63 - 1, lambda req: True, _ping, rule="PathPrefix(`/ping`)", service="ping@internal"
    )
    result = build_tables(
        snapshots,
        ["web", "admin"],
        ["web"],
        PoolRegistry(),
        TransportOptions(),
        internal_routes={"admin": [ping]},
        internal_services={"ping@internal": _ping},
    )
    result.built["app@file"][1].set_status("http://127.0.0.1:9002", False)  # type: ignore[attr-defined]
    return snapshots, result


@pytest.fixture(scope="module")
def view() -> RuntimeView:
    snapshots, result = build()
    return RuntimeView(STATIC, snapshots, result)


@pytest.fixture(scope="module")
def api(view: RuntimeView) -> ApiHandler:
    return ApiHandler(lambda: view)


class Answer:
    """A response as a test sees it."""

    def __init__(self, response: Response) -> None:
        self.status = response.status
        self.headers = {k.lower(): v for k, v in response.headers}
        assert isinstance(response.body, bytes)
        self.body = response.body

    def json(self) -> Any:
        assert self.headers["content-type"] == "application/json"
        return orjson.loads(self.body)


def call(handler: ApiHandler, target: str, method: str = "GET", headers: dict[str, str] | None = None) -> Answer:
    path, _, query = target.partition("?")
    raw = [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    req = Request(method, target, Headers(raw), path=path, query=query)
    return Answer(asyncio.run(handler(req)))


def shape(value: Any) -> Any:
    """The JSON shape of ``value``: dicts keep their keys, lists become their distinct element shapes."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        shapes: list[Any] = []
        for item in value:
            s = shape(item)
            if s not in shapes:
                shapes.append(s)
        return shapes
    return type(value).__name__


COUNTS = {"total": "int", "warnings": "int", "errors": "int"}
ROUTER = {
    "rule": "str",
    "service": "str",
    "entryPoints": ["str"],
    "name": "str",
    "provider": "str",
    "status": "str",
    "priority": "int",
    "priorityStr": "str",
    "using": ["str"],
}
WEB_APP = {**ROUTER, "middlewares": ["str"]}
ROUTER_WITH_ERROR = {**ROUTER, "error": ["str"]}
INTERNAL_ROUTER = {
    "entryPoints": ["str"],
    "service": "str",
    "rule": "str",
    "priority": "int",
    "priorityStr": "str",
    "name": "str",
    "provider": "str",
    "status": "str",
    "using": ["str"],
}
LB_SERVICE = {
    "loadBalancer": {
        "servers": [{"url": "str", "weight": "int"}],
        "strategy": "str",
        "passHostHeader": "bool",
        "responseForwarding": {"flushInterval": "str"},
    },
    "name": "str",
    "provider": "str",
    "type": "str",
    "status": "str",
    "usedBy": ["str"],
    "serverStatus": {"http://127.0.0.1:9001": "str", "http://127.0.0.1:9002": "str"},
}
INTERNAL_SERVICE = {"name": "str", "provider": "str", "status": "str", "usedBy": ["str"]}
WEIGHTED_SERVICE = {
    "weighted": {"services": [{"name": "str", "weight": "int"}]},
    "name": "str",
    "provider": "str",
    "type": "str",
    "status": "str",
    "usedBy": [],
}
ADD_PREFIX = {"addPrefix": {"prefix": "str"}, "name": "str", "provider": "str", "type": "str", "status": "str"}
STRIP_PREFIX = {"stripPrefix": {"prefixes": ["str"]}, "name": "str", "provider": "str", "type": "str", "status": "str"}
TCP_ROUTER = {
    "entryPoints": ["str"],
    "service": "str",
    "rule": "str",
    "name": "str",
    "provider": "str",
    "status": "str",
    "using": ["str"],
}
TCP_ROUTER_WITH_ERROR = {**TCP_ROUTER, "error": ["str"], "using": []}
TCP_SERVICE = {
    "loadBalancer": {"servers": [{"address": "str"}]},
    "name": "str",
    "provider": "str",
    "type": "str",
    "status": "str",
    "usedBy": ["str"],
    "serverStatus": {"127.0.0.1:5432": "str"},
}
ENTRYPOINT_KEYS = {"address", "name", "transport", "forwardedHeaders", "http", "http2", "udp", "observability"}

GOLDEN: dict[str, Any] = {
    "/api/version": {"Version": "str", "Codename": "str", "startDate": "str", "disableDashboardAd": "bool"},
    "/api/overview": {
        "http": {"routers": COUNTS, "services": COUNTS, "middlewares": COUNTS},
        "tcp": {"routers": COUNTS, "services": COUNTS, "middlewares": COUNTS},
        "udp": {"routers": COUNTS, "services": COUNTS},
        "features": {"tracing": "str", "metrics": "str", "accessLog": "bool", "hub": "bool"},
        "providers": ["str"],
    },
    "/api/http/routers": [ROUTER_WITH_ERROR, INTERNAL_ROUTER, WEB_APP],  # broken and partial share a shape
    "/api/http/routers/web-app@file": WEB_APP,
    "/api/http/routers/broken@file": ROUTER_WITH_ERROR,
    "/api/http/services": [LB_SERVICE, INTERNAL_SERVICE, WEIGHTED_SERVICE],
    "/api/http/services/app@file": LB_SERVICE,
    "/api/http/middlewares": [{**ADD_PREFIX, "usedBy": []}, {**STRIP_PREFIX, "usedBy": ["str"]}],
    "/api/http/middlewares/strip@file": {**STRIP_PREFIX, "usedBy": ["str"]},
    "/api/tcp/routers": [TCP_ROUTER, TCP_ROUTER_WITH_ERROR],
    "/api/tcp/routers/sni@file": TCP_ROUTER_WITH_ERROR,
    "/api/tcp/routers/db@file": TCP_ROUTER,
    "/api/tcp/services": [TCP_SERVICE],
    "/api/tcp/middlewares": [],
    "/api/udp/routers": [],
    "/api/udp/services": [],
}


@pytest.mark.parametrize("path", sorted(GOLDEN))
def test_endpoint_matches_its_golden_shape(api: ApiHandler, path: str) -> None:
    answer = call(api, path)
    assert answer.status == 200
    assert shape(answer.json()) == GOLDEN[path]
    if isinstance(answer.json(), list):
        assert answer.headers["x-next-page"] == "1"


def test_entrypoints_are_the_static_ones_sorted_with_their_name(api: ApiHandler) -> None:
    eps = call(api, "/api/entrypoints").json()
    assert [ep["name"] for ep in eps] == ["admin", "web"]
    assert all(set(ep) == ENTRYPOINT_KEYS for ep in eps)
    web = call(api, "/api/entrypoints/web").json()
    assert web["address"] == ":80"
    assert web["transport"]["respondingTimeouts"]["readTimeout"] == "1m"  # Go duration strings


def test_rawdata_maps_every_section_by_qualified_name(api: ApiHandler) -> None:
    raw = call(api, "/api/rawdata").json()
    assert sorted(raw) == ["middlewares", "routers", "services", "tcpRouters", "tcpServices"]
    assert sorted(raw["routers"]) == ["broken@file", "partial@file", "ping@internal", "web-app@file"]
    assert raw["services"]["app@file"]["serverStatus"] == {
        "http://127.0.0.1:9001": "UP",
        "http://127.0.0.1:9002": "DOWN",
    }


def test_statuses_errors_and_used_by_follow_the_build(api: ApiHandler) -> None:
    routers = {r["name"]: r for r in call(api, "/api/http/routers").json()}
    assert routers["web-app@file"]["status"] == "enabled"
    assert routers["broken@file"]["status"] == "disabled"
    assert routers["broken@file"]["error"] == [BROKEN_ERROR]
    assert routers["broken@file"]["using"] == ["web"]
    assert routers["partial@file"]["status"] == "warning"
    assert routers["partial@file"]["error"] == ['entryPoint "nope" doesn\'t exist']
    assert routers["partial@file"]["using"] == ["web"]
    assert routers["ping@internal"]["priorityStr"] == str(2**63 - 1)
    assert routers["web-app@file"]["priority"] == len("Host(`app.test`)")
    services = {s["name"]: s for s in call(api, "/api/http/services").json()}
    assert services["app@file"]["usedBy"] == ["partial@file", "web-app@file"]
    assert services["app@file"]["loadBalancer"]["passHostHeader"] is False
    assert services["spare@file"]["status"] == "enabled"
    assert "serverStatus" not in services["spare@file"]  # never built: no live status to report
    assert services["ping@internal"]["usedBy"] == ["ping@internal"]
    overview = call(api, "/api/overview").json()
    assert overview["http"]["routers"] == {"total": 4, "warnings": 1, "errors": 1}
    assert overview["tcp"]["routers"] == {"total": 2, "warnings": 0, "errors": 1}
    tcp_routers = {r["name"]: r for r in call(api, "/api/tcp/routers").json()}
    assert tcp_routers["db@file"]["using"] == ["web"]
    assert tcp_routers["sni@file"]["error"] == [
        'invalid rule: "HostSNI(`db.test`)" , has HostSNI matcher, but no TLS on router'
    ]
    assert overview["features"] == {"tracing": "", "metrics": "Prometheus", "accessLog": False, "hub": False}
    assert overview["providers"] == ["File"]


def test_server_status_is_read_live_from_the_balancer() -> None:
    snapshots, result = build()
    handler = ApiHandler(lambda: RuntimeView(STATIC, snapshots, result))
    balancer: Any = result.built["app@file"][1]
    balancer.set_status("http://127.0.0.1:9002", True)
    balancer.set_status("http://127.0.0.1:9001", False)
    status = call(handler, "/api/http/services/app@file").json()["serverStatus"]
    assert status == {"http://127.0.0.1:9001": "DOWN", "http://127.0.0.1:9002": "UP"}


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("status=disabled", ["broken@file"]),
        ("status=WARNING", ["partial@file"]),
        ("status=enabled", ["ping@internal", "web-app@file"]),
        ("search=APP", ["web-app@file"]),
        ("search=%2Fp", ["partial@file", "ping@internal"]),  # routers also match on their rule
        ("serviceName=app@file", ["partial@file", "web-app@file"]),
        ("middlewareName=strip", ["web-app@file"]),
        # Ties (partial and web-app are both 16) follow the direction too, as in Traefik's sort.go.
        ("sortBy=priority&direction=desc", ["ping@internal", "broken@file", "web-app@file", "partial@file"]),
        ("direction=desc", ["web-app@file", "ping@internal", "partial@file", "broken@file"]),
    ],
)
def test_router_filters(api: ApiHandler, query: str, names: list[str]) -> None:
    assert [r["name"] for r in call(api, f"/api/http/routers?{query}").json()] == names


def test_service_and_middleware_search_only_the_name(api: ApiHandler) -> None:
    assert [s["name"] for s in call(api, "/api/http/services?search=spa").json()] == ["spare@file"]
    assert [m["name"] for m in call(api, "/api/http/middlewares?search=strip&status=enabled").json()] == ["strip@file"]
    assert call(api, "/api/http/middlewares?status=disabled").json() == []


def test_pagination_sets_x_next_page_like_traefik(api: ApiHandler) -> None:
    first = call(api, "/api/http/routers?per_page=3")
    assert [r["name"] for r in first.json()] == ["broken@file", "partial@file", "ping@internal"]
    assert first.headers["x-next-page"] == "2"
    second = call(api, "/api/http/routers?per_page=3&page=2")
    assert [r["name"] for r in second.json()] == ["web-app@file"]
    assert second.headers["x-next-page"] == "1"
    middle = call(api, "/api/http/routers?per_page=1&page=2")
    assert [r["name"] for r in middle.json()] == ["partial@file"]
    assert middle.headers["x-next-page"] == "3"
    eps = call(api, "/api/entrypoints?per_page=1")
    assert [ep["name"] for ep in eps.json()] == ["admin"]
    assert eps.headers["x-next-page"] == "2"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("page=3&per_page=2", "invalid request: page: 3, per_page: 2"),
        ("per_page=0", "invalid request: per_page: 0"),
        ("page=x", "invalid request: page: 0"),
    ],
)
def test_bad_pages_are_400(api: ApiHandler, query: str, message: str) -> None:
    answer = call(api, f"/api/http/routers?{query}")
    assert answer.status == 400
    assert answer.json() == {"message": message}


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/api/http/routers/nope@file", "router not found: nope@file"),
        ("/api/http/services/nope", "service not found: nope"),
        ("/api/http/middlewares/nope@file", "middleware not found: nope@file"),
        ("/api/tcp/routers/web-app@file", "router not found: web-app@file"),
        ("/api/udp/services/x", "service not found: x"),
        ("/api/entrypoints/nope", "entry point not found: nope"),
    ],
)
def test_unknown_names_are_404_with_a_message(api: ApiHandler, path: str, message: str) -> None:
    answer = call(api, path)
    assert answer.status == 404
    assert answer.json() == {"message": message}


def test_names_are_url_decoded(api: ApiHandler) -> None:
    assert call(api, "/api/http/routers/web-app%40file").json()["name"] == "web-app@file"
    assert call(api, "/api/http/routers/a%2Fb@file").status == 404


@pytest.mark.parametrize("path", ["/api/nope", "/api/http", "/api/http/routers/a/b", "/elsewhere"])
def test_unknown_paths_are_go_404s(api: ApiHandler, path: str) -> None:
    answer = call(api, path)
    assert answer.status == 404
    assert answer.body == b"404 page not found\n"


def test_only_get_and_head_are_allowed(api: ApiHandler) -> None:
    answer = call(api, "/api/overview", method="POST")
    assert answer.status == 405
    assert answer.headers["allow"] == "GET, HEAD"
    assert call(api, "/api/overview", method="HEAD").status == 200


@pytest.mark.parametrize("path", ["/", "/dashboard"])
def test_root_and_dashboard_redirect_to_the_dashboard(api: ApiHandler, path: str) -> None:
    answer = call(api, path)
    assert answer.status == 302
    assert answer.headers["location"] == "/dashboard/"


@pytest.mark.parametrize(
    ("prefix", "location"),
    [("/admin/", "/admin/dashboard/"), ("//evil.example", "/dashboard/"), ("https://evil.example", "/dashboard/")],
)
def test_redirect_keeps_only_a_safe_forwarded_prefix(api: ApiHandler, prefix: str, location: str) -> None:
    answer = call(api, "/dashboard", headers={"X-Forwarded-Prefix": prefix})
    assert answer.headers["location"] == location


@pytest.mark.parametrize(
    ("path", "content_type", "marker"),
    [
        ("/dashboard/", "text/html; charset=utf-8", b'<main id="app"'),
        ("/dashboard/index.html", "text/html; charset=utf-8", b'<script src="app.js">'),
        ("/dashboard/app.js", "text/javascript; charset=utf-8", b'new URL("../api/"'),
        ("/dashboard/style.css", "text/css; charset=utf-8", b".badge-disabled"),
    ],
)
def test_dashboard_files_are_served_with_their_type(
    api: ApiHandler, path: str, content_type: str, marker: bytes
) -> None:
    answer = call(api, path)
    assert answer.status == 200
    assert answer.headers["content-type"] == content_type
    assert "connect-src 'self'" in answer.headers["content-security-policy"]
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert marker in answer.body


def test_dashboard_references_no_external_url() -> None:
    assets = dashboard_assets()
    assert sorted(assets) == ["app.js", "index.html", "style.css"]
    for name, (_, body) in assets.items():
        text = body.decode()
        assert not re.search(r"https?:|//[a-z0-9]", text, re.IGNORECASE), name
        assert "@import" not in text, name


def test_unknown_dashboard_file_is_404(api: ApiHandler) -> None:
    assert call(api, "/dashboard/../runtime.py").status == 404
    assert call(api, "/dashboard/nope.js").status == 404


def test_base_path_prefixes_api_and_dashboard(view: RuntimeView) -> None:
    handler = ApiHandler(lambda: view, "/traefik/")
    assert call(handler, "/traefik/api/http/routers/web-app@file").status == 200
    assert call(handler, "/traefik/dashboard/").status == 200
    assert call(handler, "/traefik").headers["location"] == "/traefik/dashboard/"
    assert call(handler, "/traefik/dashboard").headers["location"] == "/traefik/dashboard/"
    assert call(handler, "/api/overview").status == 404


def test_dashboard_can_be_turned_off(view: RuntimeView) -> None:
    handler = ApiHandler(lambda: view, dashboard=False)
    assert call(handler, "/dashboard/").status == 404
    assert call(handler, "/dashboard").status == 404
    assert call(handler, "/api/version").status == 200


def test_view_without_a_build_reports_everything_enabled() -> None:
    config, _ = decode_dynamic(DYNAMIC)
    view = RuntimeView(STATIC, {"file": config})
    routers = view.http_routers()
    assert {r["status"] for r in routers} == {"enabled"}
    assert [r["name"] for r in routers] == ["broken@file", "partial@file", "web-app@file"]
    assert all("serverStatus" not in s for s in view.http_services())


def test_view_cache_rebuilds_only_for_a_new_generation() -> None:
    snapshots, first = build()
    current: list[Any] = [snapshots, first]
    cache = ViewCache(STATIC, lambda: (current[0], current[1]))
    view = cache()
    assert cache() is view
    _, second = build()
    current[1] = second
    assert cache() is not view
    assert cache().build is second


def test_to_json_omits_empty_defaults_and_formats_durations() -> None:
    config, _ = decode_dynamic(
        {
            "http": {
                "services": {
                    "s": {
                        "loadBalancer": {
                            "servers": [{"url": "http://a", "weight": 0}],
                            "healthCheck": {"path": "/h", "interval": "10s", "timeout": 0},
                        }
                    }
                }
            }
        }
    )
    lb = to_json(config.http.services["s"])["loadBalancer"]
    assert lb["servers"] == [{"url": "http://a", "weight": 0}]  # 0 is not the default (1): kept
    assert lb["healthCheck"] == {
        "mode": "http",
        "path": "/h",
        "interval": "10s",
        "timeout": "0s",
        "followRedirects": True,
    }
    assert "sticky" not in lb
