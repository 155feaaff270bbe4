"""Decode the documented Traefik v3 examples of every OSS middleware kind into the typed models."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
import yaml

from hanzo_edge.config import middlewares as m
from hanzo_edge.config.dynamic import decode_dynamic
from hanzo_edge.config.types import FrozenDict


def _middleware(snippet: str) -> m.Middleware:
    body = yaml.load(snippet, Loader=yaml.CSafeLoader)
    config, warnings = decode_dynamic({"http": {"middlewares": {"mw": body}}})
    assert [str(w) for w in warnings] == []
    return config.http.middlewares["mw"]


CASES = [
    pytest.param("addPrefix: {prefix: /foo}", "addPrefix", m.AddPrefix(prefix="/foo"), id="addPrefix"),
    pytest.param(
        "basicAuth:\n  users:\n    - 'test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/'\n"
        "    - 'test2:$apr1$d9hr9HBB$4HxwgUir3HP4EsggP/QNo0'\n"
        "  realm: MyRealm\n  headerField: X-WebAuth-User\n  removeHeader: true",
        "basicAuth",
        m.BasicAuth(
            users=("test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/", "test2:$apr1$d9hr9HBB$4HxwgUir3HP4EsggP/QNo0"),
            realm="MyRealm",
            header_field="X-WebAuth-User",
            remove_header=True,
        ),
        id="basicAuth",
    ),
    pytest.param(
        "basicAuth: {usersFile: /path/to/my/usersfile}",
        "basicAuth",
        m.BasicAuth(users_file="/path/to/my/usersfile"),
        id="basicAuth users file and default realm",
    ),
    pytest.param(
        "buffering: {maxRequestBodyBytes: 2000000, retryExpression: 'IsNetworkError() && Attempts() < 2'}",
        "buffering",
        m.Buffering(max_request_body_bytes=2000000, retry_expression="IsNetworkError() && Attempts() < 2"),
        id="buffering",
    ),
    pytest.param(
        "chain: {middlewares: [https-redirect, known-ips, auth-users]}",
        "chain",
        m.Chain(middlewares=("https-redirect", "known-ips", "auth-users")),
        id="chain",
    ),
    pytest.param(
        "circuitBreaker: {expression: 'LatencyAtQuantileMS(50.0) > 100', checkPeriod: 1s, fallbackDuration: 30s}",
        "circuitBreaker",
        m.CircuitBreaker(expression="LatencyAtQuantileMS(50.0) > 100", check_period=1.0, fallback_duration=30.0),
        id="circuitBreaker",
    ),
    pytest.param(
        "circuitBreaker: {expression: 'NetworkErrorRatio() > 0.30'}",
        "circuitBreaker",
        m.CircuitBreaker(expression="NetworkErrorRatio() > 0.30"),
        id="circuitBreaker defaults",
    ),
    pytest.param(
        "compress: {excludedContentTypes: [text/event-stream], minResponseBodyBytes: 1200}",
        "compress",
        m.Compress(excluded_content_types=("text/event-stream",), min_response_body_bytes=1200),
        id="compress",
    ),
    pytest.param("compress: {}", "compress", m.Compress(), id="compress enabled by presence"),
    pytest.param("contentType: {}", "contentType", m.ContentType(), id="contentType"),
    pytest.param(
        "digestAuth: {users: ['test:traefik:a2688e031edb4be6a3797f3882655c05']}",
        "digestAuth",
        m.DigestAuth(users=("test:traefik:a2688e031edb4be6a3797f3882655c05",)),
        id="digestAuth",
    ),
    pytest.param(
        "errors:\n  status: ['500', '501', '503', '505-599']\n  service: error-handler-service\n"
        "  query: '/{status}.html'\n  statusRewrites: {'500-503': 500}",
        "errors",
        m.ErrorPage(
            status=("500", "501", "503", "505-599"),
            service="error-handler-service",
            query="/{status}.html",
            status_rewrites=FrozenDict({"500-503": 500}),
        ),
        id="errors",
    ),
    pytest.param(
        "forwardAuth:\n  address: https://example.com/auth\n  trustForwardHeader: true\n"
        "  authResponseHeaders: [X-Auth-User, X-Secret]\n  authResponseHeadersRegex: ^X-\n"
        "  tls: {ca: path/to/local.crt, insecureSkipVerify: true}",
        "forwardAuth",
        m.ForwardAuth(
            address="https://example.com/auth",
            trust_forward_header=True,
            auth_response_headers=("X-Auth-User", "X-Secret"),
            auth_response_headers_regex="^X-",
            tls=m.ClientTLS(ca="path/to/local.crt", insecure_skip_verify=True),
        ),
        id="forwardAuth",
    ),
    pytest.param("grpcWeb: {allowOrigins: ['*']}", "grpcWeb", m.GrpcWeb(allow_origins=("*",)), id="grpcWeb"),
    pytest.param(
        "headers:\n  customRequestHeaders: {X-Script-Name: test, X-Custom-Request-Header: ''}\n"
        "  customResponseHeaders: {X-Custom-Response-Header: ''}",
        "headers",
        m.Headers(
            custom_request_headers=FrozenDict({"X-Script-Name": "test", "X-Custom-Request-Header": ""}),
            custom_response_headers=FrozenDict({"X-Custom-Response-Header": ""}),
        ),
        id="headers custom",
    ),
    pytest.param(
        "headers:\n  accessControlAllowMethods: [GET, OPTIONS, PUT]\n  accessControlAllowHeaders: ['*']\n"
        "  accessControlAllowOriginList: ['https://foo.bar.org', 'https://example.org']\n"
        "  accessControlMaxAge: 100\n  addVaryHeader: true",
        "headers",
        m.Headers(
            access_control_allow_methods=("GET", "OPTIONS", "PUT"),
            access_control_allow_headers=("*",),
            access_control_allow_origin_list=("https://foo.bar.org", "https://example.org"),
            access_control_max_age=100,
            add_vary_header=True,
        ),
        id="headers cors",
    ),
    pytest.param(
        "headers:\n  frameDeny: true\n  browserXssFilter: true\n  stsSeconds: 31536000\n  forceSTSHeader: true\n"
        "  customBrowserXSSValue: '0'\n  sslProxyHeaders: {X-Forwarded-Proto: https}",
        "headers",
        m.Headers(
            frame_deny=True,
            browser_xss_filter=True,
            sts_seconds=31536000,
            force_sts_header=True,
            custom_browser_xss_value="0",
            ssl_proxy_headers=FrozenDict({"X-Forwarded-Proto": "https"}),
        ),
        id="headers security",
    ),
    pytest.param(
        "inFlightReq: {amount: 10, sourceCriterion: {ipStrategy: {depth: 2, excludedIPs: [127.0.0.1/32]}}}",
        "inFlightReq",
        m.InFlightReq(
            amount=10,
            source_criterion=m.SourceCriterion(
                ip_strategy=m.IPStrategy(depth=2, excluded_ips=("127.0.0.1/32",)),
            ),
        ),
        id="inFlightReq",
    ),
    pytest.param(
        "inFlightReq: {amount: 10, sourceCriterion: {requestHost: true}}",
        "inFlightReq",
        m.InFlightReq(amount=10, source_criterion=m.SourceCriterion(request_host=True)),
        id="inFlightReq by host",
    ),
    pytest.param(
        "ipAllowList:\n  sourceRange: [127.0.0.1/32, 192.168.1.7]\n  ipStrategy: {depth: 2, ipv6Subnet: 64}\n"
        "  rejectStatusCode: 404",
        "ipAllowList",
        m.IPAllowList(
            source_range=("127.0.0.1/32", "192.168.1.7"),
            ip_strategy=m.IPStrategy(depth=2, ipv6_subnet=64),
            reject_status_code=404,
        ),
        id="ipAllowList",
    ),
    pytest.param(
        "ipWhiteList: {sourceRange: [10.0.0.0/8]}",
        "ipWhiteList",
        m.IPAllowList(source_range=("10.0.0.0/8",)),
        id="deprecated ipWhiteList",
    ),
    pytest.param(
        "passTLSClientCert:\n  pem: true\n  info:\n    notAfter: true\n    sans: true\n"
        "    subject: {country: true, commonName: true, organizationalUnit: true}\n    issuer: {domainComponent: true}",
        "passTLSClientCert",
        m.PassTLSClientCert(
            pem=True,
            info=m.TLSClientCertInfo(
                not_after=True,
                sans=True,
                subject=m.TLSClientCertSubjectInfo(country=True, common_name=True, organizational_unit=True),
                issuer=m.TLSClientCertIssuerInfo(domain_component=True),
            ),
        ),
        id="passTLSClientCert",
    ),
    pytest.param(
        "rateLimit: {average: 100, burst: 200}",
        "rateLimit",
        m.RateLimit(average=100, burst=200),
        id="rateLimit",
    ),
    pytest.param(
        "rateLimit:\n  average: 6\n  period: 1m\n  sourceCriterion: {requestHeaderName: username}\n"
        "  redis: {endpoints: ['redis:6379'], db: 2, readTimeout: 1s}",
        "rateLimit",
        m.RateLimit(
            average=6,
            period=60.0,
            source_criterion=m.SourceCriterion(request_header_name="username"),
            redis=m.RedisRateLimit(endpoints=("redis:6379",), db=2, read_timeout=1.0),
        ),
        id="rateLimit redis",
    ),
    pytest.param(
        "redirectRegex: {regex: '^http://localhost/(.*)', replacement: 'http://mydomain/${1}'}",
        "redirectRegex",
        m.RedirectRegex(regex="^http://localhost/(.*)", replacement="http://mydomain/${1}"),
        id="redirectRegex",
    ),
    pytest.param(
        "redirectScheme: {scheme: https, permanent: true, port: 8443}",
        "redirectScheme",
        m.RedirectScheme(scheme="https", permanent=True, port="8443"),
        id="redirectScheme with numeric port",
    ),
    pytest.param("replacePath: {path: /foo}", "replacePath", m.ReplacePath(path="/foo"), id="replacePath"),
    pytest.param(
        "replacePathRegex: {regex: '^/foo/(.*)', replacement: '/bar/$1'}",
        "replacePathRegex",
        m.ReplacePathRegex(regex="^/foo/(.*)", replacement="/bar/$1"),
        id="replacePathRegex",
    ),
    pytest.param(
        "retry: {attempts: 4, initialInterval: 100ms}",
        "retry",
        m.Retry(attempts=4, initial_interval=0.1),
        id="retry",
    ),
    pytest.param(
        "stripPrefix: {prefixes: [/foobar, /fiibar]}",
        "stripPrefix",
        m.StripPrefix(prefixes=("/foobar", "/fiibar")),
        id="stripPrefix",
    ),
    pytest.param(
        "stripPrefixRegex: {regex: ['/foo/[a-z0-9]+/[0-9]+/']}",
        "stripPrefixRegex",
        m.StripPrefixRegex(regex=("/foo/[a-z0-9]+/[0-9]+/",)),
        id="stripPrefixRegex",
    ),
    pytest.param(
        "plugin: {my-plugin: {headers: {Foo: Bar}, list: [1, 2]}}",
        "plugin",
        FrozenDict({"my-plugin": FrozenDict({"headers": FrozenDict({"Foo": "Bar"}), "list": (1, 2)})}),
        id="plugin raw settings",
    ),
]


@pytest.mark.parametrize(("snippet", "kind", "expected"), CASES)
def test_documented_middleware_examples(snippet: str, kind: str, expected: Any) -> None:
    middleware = _middleware(snippet)
    assert middleware.kind == kind
    assert middleware.config == expected
    hash(middleware)


def test_every_middleware_kind_has_a_case() -> None:
    kinds = {f.encode_name for f in msgspec.structs.fields(m.Middleware)}
    covered = {case.values[1] for case in CASES}
    assert kinds == covered


@pytest.mark.parametrize(
    ("model", "defaults"),
    [
        pytest.param(m.BasicAuth(), {"realm": "traefik", "remove_header": False}, id="basicAuth"),
        pytest.param(m.DigestAuth(), {"realm": "traefik"}, id="digestAuth"),
        pytest.param(
            m.Buffering(),
            {"mem_request_body_bytes": 1048576, "mem_response_body_bytes": 1048576, "max_request_body_bytes": 0},
            id="buffering",
        ),
        pytest.param(
            m.CircuitBreaker(),
            {"check_period": 0.1, "fallback_duration": 10.0, "recovery_duration": 10.0, "response_code": 503},
            id="circuitBreaker",
        ),
        pytest.param(
            m.Compress(), {"min_response_body_bytes": 1024, "encodings": ("gzip", "br", "zstd")}, id="compress"
        ),
        pytest.param(m.ForwardAuth(), {"max_body_size": -1, "forward_body": False}, id="forwardAuth"),
        pytest.param(m.IPAllowList(), {"reject_status_code": 403}, id="ipAllowList"),
        pytest.param(m.RateLimit(), {"average": 0, "period": 1.0, "burst": 1}, id="rateLimit"),
        pytest.param(
            m.RedisRateLimit(),
            {"endpoints": ("localhost:6379",), "read_timeout": 3.0, "write_timeout": 3.0, "dial_timeout": 5.0},
            id="rateLimit.redis",
        ),
        pytest.param(m.RedirectScheme(), {"permanent": False, "port": ""}, id="redirectScheme"),
        pytest.param(m.Retry(), {"initial_interval": 0.0}, id="retry"),
    ],
)
def test_defaults_match_traefik(model: Any, defaults: dict[str, Any]) -> None:
    for name, value in defaults.items():
        assert getattr(model, name) == value, name


def test_empty_headers_is_detectable() -> None:
    assert m.Headers().is_empty()
    assert not _middleware("headers: {frameDeny: true}").config.is_empty()
