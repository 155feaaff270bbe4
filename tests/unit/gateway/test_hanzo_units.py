"""Unit tests of the Hanzo chain's pieces: settings, identity headers, tokens, widget windows, the host table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fakes import FakeClock
from hanzo_edge.gateway.hanzo.billing import billing_user
from hanzo_edge.gateway.hanzo.host_table import HostTableError, load_host_table, parse_host_table
from hanzo_edge.gateway.hanzo.identity import bearer_token, is_api_key, request_token, strip_identity_headers
from hanzo_edge.gateway.hanzo.settings import (
    DEFAULT_PUBLIC_PATHS,
    HanzoSettings,
    SettingsError,
    unsupported_variables,
)
from hanzo_edge.gateway.hanzo.widget import MemoryWindows, origin_allowed, origin_host
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request


def _req(*headers: tuple[str, str], path: str = "/") -> Request:
    return Request("GET", path, Headers([(n.encode(), v.encode()) for n, v in headers]))


# -- settings --------------------------------------------------------------------------------------------------------
def test_settings_defaults(tmp_path: Path) -> None:
    s = HanzoSettings.from_env({}, cwd=str(tmp_path))
    assert s.auth_enabled
    assert s.billing_enabled
    assert not s.require_auth
    assert s.public_paths == DEFAULT_PUBLIC_PATHS
    assert (s.widget_per_ip, s.widget_global, s.widget_window) == (10, 600, 60.0)
    assert s.routes_file == ""  # no ./routes.yaml: no host table
    assert s.issuer == "https://hanzo.id"
    assert s.audience == ""


def test_settings_go_string_booleans_and_lists(tmp_path: Path) -> None:
    (tmp_path / "routes.yaml").write_text("routes: {}\n")
    s = HanzoSettings.from_env(
        {
            "AUTH_ENABLED": "False",  # only exactly "false" disables
            "AUTH_REQUIRE": "TRUE",  # only exactly "true" enables
            "BILLING_ENABLED": "false",
            "AUTH_PUBLIC_PATHS": " /a , /b/ ,",
            "AUTH_PUBLIC_HOSTS": "Pub.Example.com",
            "WIDGET_ALLOWED_ORIGINS": " example.com ,other.org",
            "WIDGET_RATE_LIMIT_PER_IP": "3",
            "WIDGET_RATE_LIMIT_WINDOW": "1m30s",
            "AUTH_BILLING_URL": "http://c:8001/",
        },
        cwd=str(tmp_path),
    )
    assert s.auth_enabled
    assert not s.require_auth
    assert not s.billing_enabled
    assert s.public_paths == ("/a", "/b/")
    assert s.public_hosts == ("pub.example.com",)
    assert s.widget_origins == ("example.com", "other.org")
    assert (s.widget_per_ip, s.widget_window) == (3, 90.0)
    assert s.billing_url == "http://c:8001"
    assert s.routes_file == str(tmp_path / "routes.yaml")
    assert HanzoSettings.from_env({"AUTH_ENABLED": "false"}).auth_enabled is False
    assert HanzoSettings.from_env({"AUTH_REQUIRE": "true"}).require_auth is True


def test_unsupported_variables_are_named() -> None:
    lines = unsupported_variables({"BILLING_PATHS": "/v1", "ADMIN_EMAILS": "a@b.c", "AUTH_ISSUER": "x"})
    assert [line.split(" ", 1)[0] for line in lines] == ["ADMIN_EMAILS", "BILLING_PATHS"]
    assert unsupported_variables({"BILLING_PATHS": ""}) == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WIDGET_RATE_LIMIT_PER_IP", "ten"),
        ("WIDGET_RATE_LIMIT_GLOBAL", "-1"),
        ("WIDGET_RATE_LIMIT_WINDOW", "soon"),
        ("WIDGET_RATE_LIMIT_WINDOW", "0s"),
        ("WIDGET_RATE_LIMIT_REDIS", "http://redis"),
    ],
)
def test_settings_refuse_unusable_values_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        HanzoSettings.from_env({name: value})


# -- identity headers and tokens -------------------------------------------------------------------------------------
def test_strip_identity_headers_every_family_any_case() -> None:
    forged = [
        ("X-Hanzo-User-Id", "evil"),
        ("x-hanzo-org-id", "evil"),
        ("X-IAM-Roles", "admin"),
        ("X-User-Id", "u"),
        ("X-ORG-ID", "o"),
        ("X-User-Email", "e"),
        ("X-User-Roles", "r"),
        ("X-Roles", "r"),
        ("X-Role", "admin"),
        ("X-User-IsAdmin", "true"),
        ("X-Is-Admin", "true"),
        ("X-Phone-Number", "1"),
    ]
    req = _req(("Host", "h"), *forged, ("X-Request-Id", "keep"), ("X-Users", "keep"))
    strip_identity_headers(req)
    assert [n for n, _ in req.headers.raw] == [b"Host", b"X-Request-Id", b"X-Users"]


def test_strip_identity_headers_with_underscores() -> None:
    # CGI/WSGI servers (and PHP, and nginx with underscores_in_headers) read X_User_Id as X-User-Id: HTTP_X_USER_ID.
    forged = [("X_User_Id", "u"), ("x_hanzo_user_id", "evil"), ("X-IAM_Roles", "admin"), ("X_Org-Id", "o")]
    req = _req(("Host", "h"), *forged, ("X_Request_Id", "keep"))
    strip_identity_headers(req)
    assert [n for n, _ in req.headers.raw] == [b"Host", b"X_Request_Id"]


def test_strip_without_identity_headers_keeps_the_list() -> None:
    req = _req(("Host", "h"), ("Accept", "*/*"))
    raw = req.headers.raw
    strip_identity_headers(req)
    assert req.headers.raw is raw


@pytest.mark.parametrize(
    ("value", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer abc", "abc"),
        ("BEARER   abc  ", "abc"),
        ("Bearer", ""),
        ("Basic dXNlcjpwdw==", ""),
        ("", ""),
    ],
)
def test_bearer_token(value: str, token: str) -> None:
    assert bearer_token(value) == token


def test_request_token_order() -> None:
    assert request_token(_req(("Authorization", "Bearer a"), ("X-Authorization", "Bearer b"))) == "a"
    assert request_token(_req(("X-Authorization", "Bearer b"))) == "b"
    # As Go's extractToken: X-Authorization is read only when Authorization is absent; a Basic one falls to cookies.
    assert request_token(_req(("Authorization", "Basic x"), ("X-Authorization", "Bearer b"))) == ""
    assert request_token(_req(("Authorization", "Basic x"), ("Cookie", "hanzo_token=ht"))) == "ht"
    cookies = "other=1; access_token=at; hanzo_token=ht"
    assert request_token(_req(("Cookie", cookies))) == "at"
    assert request_token(_req(("Cookie", "hanzo_token=ht; casdoor_access_token=ct"))) == "ct"
    assert request_token(_req(("Cookie", "access_token=; hanzo_token=ht"))) == "ht"
    assert request_token(_req(("Cookie", "x=1"))) == ""


@pytest.mark.parametrize(
    ("token", "key"),
    [
        ("hk-1", True),
        ("sk-ant-1", True),
        ("fw_1", True),
        ("hz_1", True),
        ("pk-1", True),
        ("eyJ.a.b", False),
        ("", False),
    ],
)
def test_api_keys(token: str, key: bool) -> None:
    assert is_api_key(token) is key


def test_billing_user() -> None:
    assert billing_user("hanzo", "alice") == "hanzo/alice"
    assert billing_user("", "alice") == "alice"
    assert billing_user("hanzo", "org/alice") == "org/alice"


# -- widget gate -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "host"),
    [
        ("https://chat.hanzo.ai", "chat.hanzo.ai"),
        ("https://chat.hanzo.ai:8443/page?q=1", "chat.hanzo.ai"),
        ("http://LOCALHOST:3000/", "localhost"),
        ("https://user@evil.com/x", "evil.com"),
        ("hanzo.ai", "hanzo.ai"),
    ],
)
def test_origin_host(value: str, host: str) -> None:
    assert origin_host(value) == host


@pytest.mark.parametrize(
    ("host", "ok"),
    [
        ("hanzo.ai", True),
        ("docs.hanzo.ai", True),
        ("evil.com.hanzo.ai", True),
        ("nothanzo.ai", False),
        ("hanzo.ai.evil.com", False),
    ],
)
def test_origin_allowed(host: str, ok: bool) -> None:
    assert origin_allowed(host, ("hanzo.ai", "localhost")) is ok


def test_widget_per_ip_window_slides_with_the_clock() -> None:
    clock = FakeClock()
    windows = MemoryWindows(per_ip=3, global_limit=100, window=60.0, clock=clock)
    assert [windows.admit("1.1.1.1") for _ in range(4)] == [True, True, True, False]
    assert windows.admit("2.2.2.2")  # another IP has its own window
    clock.now += 30
    assert not windows.admit("1.1.1.1")  # still within the window
    clock.now += 30.001
    assert windows.admit("1.1.1.1")  # the first three slid out


def test_widget_refused_requests_do_not_count() -> None:
    clock = FakeClock()
    windows = MemoryWindows(per_ip=2, global_limit=100, window=10.0, clock=clock)
    assert windows.admit("ip")
    assert windows.admit("ip")
    for _ in range(50):
        clock.now += 0.1
        assert not windows.admit("ip")
    clock.now = 1000.0 + 10.001  # 10 s after the two admitted ones, whatever was refused since
    assert windows.admit("ip")


def test_widget_global_limit_is_checked_first() -> None:
    clock = FakeClock()
    windows = MemoryWindows(per_ip=10, global_limit=3, window=60.0, clock=clock)
    assert [windows.admit(f"10.0.0.{i}") for i in range(4)] == [True, True, True, False]


def test_widget_windows_of_gone_clients_are_swept() -> None:
    clock = FakeClock()
    windows = MemoryWindows(per_ip=1, global_limit=10**9, window=1.0, clock=clock)
    for i in range(1023):
        windows.admit(f"ip{i}")
    clock.now += 2
    windows.admit("last")  # the 1024th admission sweeps
    assert windows.tracked() == 1


def test_widget_refused_clients_leave_no_window_behind() -> None:
    # WIDGET_RATE_LIMIT_PER_IP=0 refuses every widget request; the client IP (X-Forwarded-For: anything a client
    # writes) must not leave a window per refusal, or a flood of made-up addresses grows memory without end.
    windows = MemoryWindows(per_ip=0, global_limit=600, window=60.0, clock=FakeClock())
    assert not any(windows.admit(f"198.51.100.{i}") for i in range(200))
    assert windows.tracked() == 0


@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.floats(0, 5)), max_size=60))
def test_widget_window_never_admits_more_than_the_limit(steps: list[tuple[str, float]]) -> None:
    clock = FakeClock(0.0)
    windows = MemoryWindows(per_ip=2, global_limit=4, window=10.0, clock=clock)
    admitted: list[tuple[str, float]] = []
    for ip, gap in steps:
        clock.now += gap
        if windows.admit(ip):
            admitted.append((ip, clock.now))
        recent = [(i, t) for i, t in admitted if t > clock.now - 10.0]
        assert len(recent) <= 4
        assert len([1 for i, _ in recent if i == ip]) <= 2


# -- host table ------------------------------------------------------------------------------------------------------
_TABLE = {
    "redirects": {"app.hanzo.ai": "https://hanzo.app"},
    "routes": {
        "platform.hanzo.ai": [
            {"prefix": "/", "backend": "http://ui:80"},
            {"prefix": "/api", "backend": "http://platform:4000"},
            {"prefix": "/api/v2", "backend": "http://v2:4000"},
        ],
        "api.hanzo.ai": [{"prefix": "/v1/chat", "backend": "http://cloud-api:8000", "rewrite": "/api/chat"}],
    },
    "subdomains": {"lux-test": "http://luxd-test:9640", "lux": "http://luxd:9650"},
}


def test_host_table_redirect_is_the_url_then_the_path_verbatim() -> None:
    # Location: <URL><request path>, as Hanzo's `target + path`: nothing trimmed from the URL.
    table = parse_host_table({"redirects": {"docs.hanzo.bot": "https://hanzo.bot/docs/"}})
    redirect = table.match("docs.hanzo.bot", "/x")
    assert redirect is not None
    assert redirect.url == "https://hanzo.bot/docs//x"


def test_host_table_matching() -> None:
    table = parse_host_table(_TABLE)
    redirect = table.match("app.hanzo.ai", "/x/y")
    assert redirect is not None
    assert (redirect.kind, redirect.url) == ("redirect", "https://hanzo.app/x/y")
    longest = table.match("platform.hanzo.ai", "/api/v2/things")
    assert longest is not None
    assert longest.url == "http://v2:4000"
    plain_prefix = table.match("platform.hanzo.ai", "/apix")  # plain string prefix, as Hanzo's HasPrefix
    assert plain_prefix is not None
    assert plain_prefix.url == "http://platform:4000"
    root = table.match("platform.hanzo.ai", "/dashboard")
    assert root is not None
    assert root.url == "http://ui:80"
    rewritten = table.match("api.hanzo.ai", "/v1/chat/completions")
    assert rewritten is not None
    assert (rewritten.url, rewritten.path) == (
        "http://cloud-api:8000",
        "/api/chat/completions",
    )
    assert table.match("api.hanzo.ai", "/v1/billing/balance") is None  # on to gateway.json
    first_pattern = table.match("rpc.lux-test.example", "/")
    assert first_pattern is not None
    assert first_pattern.url == "http://luxd-test:9640"
    assert table.match("unknown.example", "/") is None


@pytest.mark.parametrize(
    ("document", "where"),
    [
        ({"routes": {"h": [{"prefix": "api", "backend": "http://b"}]}}, "routes.h[0].prefix"),
        ({"routes": {"h": [{"prefix": "/", "backend": "ftp://b"}]}}, "routes.h[0].backend"),
        ({"routes": {"h": [{"prefix": "/", "backend": "http://b", "weight": 1}]}}, "routes.h[0]"),
        ({"routes": {"h": "http://b"}}, "routes.h"),
        ({"redirects": {"h": 3}}, "redirects.h"),
        ({"hosts": {}}, "unknown key"),
        ([1, 2], "want a mapping"),
    ],
)
def test_host_table_errors_name_the_key(document: object, where: str) -> None:
    with pytest.raises(HostTableError, match=rf"routes\.yaml: .*{where.replace('[', '.').replace(']', '.')}"):
        parse_host_table(document)


def test_host_table_yaml_error_has_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text("routes:\n  h:\n    - {prefix: /, backend: http://b\n")
    with pytest.raises(HostTableError, match=rf"{path}:\d+:\d+: invalid YAML"):
        load_host_table(str(path))


def test_example_routes_yaml_loads() -> None:
    example = Path(__file__).resolve().parents[3] / "examples" / "hanzo" / "routes.yaml"
    table = load_host_table(str(example))
    match = table.match("api.hanzo.ai", "/v1/models")
    assert match is not None
    assert match.path == "/api/models"
    assert table.redirects["app.hanzo.ai"] == "https://hanzo.app"


_PREFIX = st.text(alphabet="/abv1", min_size=1, max_size=6).map(lambda s: "/" + s.lstrip("/"))


@given(st.lists(_PREFIX, min_size=1, max_size=8, unique=True), st.text(alphabet="/abv1x", max_size=10))
def test_host_table_picks_the_longest_matching_prefix(prefixes: list[str], tail: str) -> None:
    routes = [{"prefix": p, "backend": f"http://b{i}:80", "rewrite": "/r"} for i, p in enumerate(prefixes)]
    table = parse_host_table({"routes": {"h.test": routes}})
    path = "/" + tail.lstrip("/")
    match = table.match("h.test", path)
    matching = [p for p in prefixes if path.startswith(p)]
    if not matching:
        assert match is None
        return
    best = max(matching, key=len)
    assert match is not None
    assert match.url == f"http://b{prefixes.index(best)}:80"
    assert match.path == "/r" + path[len(best) :]  # rewrite replaces exactly the matched prefix


def test_auth_public_flag_is_read_and_a_bad_value_warned() -> None:
    from hanzo_edge.gateway.document import parse_document

    def endpoint(path: str, public: object) -> dict[str, object]:
        return {"endpoint": path, "backend": [{"host": ["http://b:80"], "url_pattern": "/"}], "auth/public": public}

    config = {"version": 3, "endpoints": [endpoint("/a", True), endpoint("/b", "true"), endpoint("/c", False)]}
    doc = parse_document(json.dumps(config), {})
    assert doc.service is not None
    assert [e.auth_public for e in doc.service.endpoints] == [True, False, False]
    assert [str(w) for w in doc.warnings if "auth/public" in str(w)] == [
        '$.endpoints[1]["auth/public"]: want true or false: the endpoint is not public'
    ]


_NAMES = st.sampled_from(
    [
        "X-Hanzo-User-Id",
        "x-hanzo-anything",
        "X-IAM-Role",
        "X-User-Id",
        "x-org-id",
        "X-Roles",
        "Accept",
        "X-Users",
        "X-Hanzo",
        "X_User_Id",
        "x_hanzo_x",
        "X_Users",
    ]
)


@given(st.lists(st.tuples(_NAMES, st.text(alphabet="abc", max_size=3)), max_size=12))
def test_strip_keeps_exactly_the_headers_that_are_not_identity(headers: list[tuple[str, str]]) -> None:
    req = _req(*headers)
    strip_identity_headers(req)
    forged = {"x-user-id", "x-org-id", "x-roles"}
    expected = [
        (n.encode(), v.encode())
        for n, v in headers
        if not n.lower().replace("_", "-").startswith(("x-hanzo-", "x-iam-"))
        and n.lower().replace("_", "-") not in forged
    ]
    assert req.headers.raw == expected


def test_auth_public_table_is_built_once_per_generation(monkeypatch: pytest.MonkeyPatch) -> None:
    # Under `ingress --providers.gateway` every endpoint is a router wrapped by the chain: one "auth/public" table
    # per generation, not one per router (that was N tables of N endpoints each build).
    import hanzo_edge.gateway.hanzo.chain as chain_module
    from hanzo_edge.gateway.hanzo.chain import HanzoChain
    from hanzo_edge.http.messages import Response
    from hanzo_edge.http.pool import PoolRegistry

    built: list[int] = []
    real = chain_module.GinRouter

    def counting(routes: list[tuple[str, str, bool]]) -> object:
        built.append(len(routes))
        return real(routes)

    monkeypatch.setattr(chain_module, "GinRouter", counting)
    chain = HanzoChain(HanzoSettings(auth_enabled=False), PoolRegistry())

    async def nxt(req: Request) -> Response:
        return Response(200)

    endpoints = tuple(("GET", f"/e{i}/{{x}}", i == 0) for i in range(50))
    for _ in range(50):
        chain.wrap(nxt, endpoints)
    assert built == [50]
    chain.wrap(nxt, (*endpoints, ("GET", "/new", True)))  # the next generation's endpoints: a new table
    assert built == [50, 51]
