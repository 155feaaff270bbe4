"""The CRD translation on dicts: Traefik v3.6's names, every kind, the namespace rules and the error paths."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest

from hanzo_edge.config.middlewares import ExtensionMiddleware
from hanzo_edge.config.refusal import ProviderRefusal
from hanzo_edge.providers.kubernetes.crd_cluster import CRDOptions
from hanzo_edge.providers.kubernetes.crd_translate import translate_crds
from hanzo_edge.providers.kubernetes.ingress_translate import Translation


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def obj(kind: str, namespace: str, name: str, spec: dict[str, Any], **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace, "resourceVersion": "1", **meta},
        "spec": spec,
    }


def service(namespace: str, name: str, port: int = 80, port_name: str = "http", **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"ports": [{"name": port_name, "port": port}], "clusterIP": "10.0.0.9", **spec},
    }


def slice_(namespace: str, svc: str, addresses: list[str], port: int = 8080, port_name: str = "http") -> dict[str, Any]:
    return {
        "metadata": {"name": f"{svc}-x", "namespace": namespace, "labels": {"kubernetes.io/service-name": svc}},
        "endpoints": [{"addresses": [a], "conditions": {"ready": True}} for a in addresses],
        "ports": [{"name": port_name, "port": port}],
    }


def secret(namespace: str, name: str, data: dict[str, str], type_: str = "Opaque") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": namespace},
        "type": type_,
        "data": {k: _b64(v) for k, v in data.items()},
    }


def snapshot(*objects: dict[str, Any]) -> dict[str, dict[tuple[str, str], Any]]:
    plural_of = {
        "IngressRoute": "ingressroutes",
        "IngressRouteTCP": "ingressroutetcps",
        "IngressRouteUDP": "ingressrouteudps",
        "Middleware": "middlewares",
        "MiddlewareTCP": "middlewaretcps",
        "TLSOption": "tlsoptions",
        "TLSStore": "tlsstores",
        "TraefikService": "traefikservices",
        "ServersTransport": "serverstransports",
        "ServersTransportTCP": "serverstransporttcps",
    }
    out: dict[str, dict[tuple[str, str], Any]] = {}
    for o in objects:
        if "kind" in o:
            plural = plural_of[o["kind"]]
        elif "endpoints" in o:
            plural = "endpointslices"
        elif "data" in o:
            plural = "secrets"
        else:
            plural = "services"
        out.setdefault(plural, {})[(o["metadata"]["namespace"], o["metadata"]["name"])] = o
    return out


BASE = (
    service("default", "whoami", 80),
    slice_("default", "whoami", ["10.10.0.1", "10.10.0.2"], port=80),
)


def route(match: str, services: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"match": match, "kind": "Rule", "services": services, **extra}


def test_traefik_fixture_simple_names_and_defaults() -> None:
    """Traefik's ``simple.yml`` + ``services.yml``: the router, its same-named service, the filled defaults."""
    ir = obj(
        "IngressRoute",
        "default",
        "test.route",
        {
            "entryPoints": ["foo"],
            "routes": [route("Host(`foo.com`) && PathPrefix(`/bar`)", [{"name": "whoami", "port": 80}], priority=12)],
        },
    )
    result = translate_crds(snapshot(*BASE, ir))
    assert result.errors == ()
    key = "default-test-route-6b204d94623b3df4370c"
    router = result.config.http.routers[key]
    assert (router.rule, router.service, router.priority, router.entry_points) == (
        "Host(`foo.com`) && PathPrefix(`/bar`)",
        key,
        12,
        ("foo",),
    )
    lb = result.config.http.services[key].load_balancer
    assert lb is not None
    assert [s.url for s in lb.servers] == ["http://10.10.0.1:80", "http://10.10.0.2:80"]
    assert (lb.strategy, lb.pass_host_header, lb.response_forwarding.flush_interval) == ("wrr", True, 0.1)


def test_two_services_make_a_weighted_service_with_port_children() -> None:
    objs = (
        *BASE,
        service("default", "whoami2", 8080, port_name="web"),
        slice_("default", "whoami2", ["10.10.0.3"], port=8080, port_name="web"),
        obj(
            "IngressRoute",
            "default",
            "two",
            {
                "routes": [
                    route(
                        "Host(`two.com`)",
                        [{"name": "whoami", "port": 80, "weight": 3}, {"name": "whoami2", "port": "web"}],
                    )
                ]
            },
        ),
    )
    result = translate_crds(snapshot(*objs))
    key = "default-two-" + hashlib.sha256(b"Host(`two.com`)").hexdigest()[:20]
    weighted = result.config.http.services[key].weighted
    assert weighted is not None
    assert [(c.name, c.weight) for c in weighted.services] == [("default-whoami-80", 3), ("default-whoami2-web", 1)]
    assert "default-whoami2-web" in result.config.http.services


def test_middlewares_every_kind_decoded_generically_and_referenced_normalized() -> None:
    objs = (
        *BASE,
        obj("Middleware", "hanzo", "rate-limit", {"rateLimit": {"average": 100, "burst": 200, "period": "1m"}}),
        obj("Middleware", "hanzo", "retry", {"retry": {"attempts": 3, "initialInterval": "100ms"}}),
        obj("Middleware", "hanzo", "strip.v1", {"stripPrefix": {"prefixes": ["/v1"]}}),
        obj("Middleware", "hanzo", "cb", {"circuitBreaker": {"expression": "NetworkErrorRatio() > 0.30"}}),
        obj("Middleware", "hanzo", "chain", {"chain": {"middlewares": [{"name": "retry"}, {"name": "strip.v1"}]}}),
        obj("Middleware", "hanzo", "ips", {"ipAllowList": {"sourceRange": ["10.0.0.0/8"]}}),
    )
    result = translate_crds(snapshot(*objs))
    mws = result.config.http.middlewares
    assert result.errors == ()
    rate = mws["hanzo-rate-limit"].rate_limit
    assert rate is not None
    assert (rate.average, rate.burst, rate.period) == (100, 200, 60.0)
    retry = mws["hanzo-retry"].retry
    assert retry is not None
    assert (retry.attempts, retry.initial_interval) == (3, 0.1)
    chain = mws["hanzo-chain"].chain
    assert chain is not None
    assert chain.middlewares == ("hanzo-retry", "hanzo-strip-v1")
    assert mws["hanzo-ips"].ip_allow_list is not None


def test_security_headers_ssl_redirect_is_dropped_with_a_warning() -> None:
    spec = {"headers": {"frameDeny": True, "sslRedirect": True, "stsSeconds": 31536000}}
    result = translate_crds(snapshot(obj("Middleware", "hanzo", "security-headers", spec)))
    headers = result.config.http.middlewares["hanzo-security-headers"].headers
    assert headers is not None
    assert (headers.frame_deny, headers.ssl_redirect, headers.sts_seconds) == (True, False, 31536000)
    assert any("sslRedirect" in str(e) and "no effect" in str(e) for e in result.errors)


def test_basic_auth_from_secrets() -> None:
    objs = (
        secret("hanzo", "plain", {"users": "alice:$apr1$x$y\n# comment\n\nbob:{SHA}abc"}),
        secret("hanzo", "k8s", {"username": "carol", "password": "pw"}, type_="kubernetes.io/basic-auth"),
        obj("Middleware", "hanzo", "a", {"basicAuth": {"secret": "plain"}}),
        obj("Middleware", "hanzo", "b", {"basicAuth": {"secret": "k8s", "realm": "r"}}),
    )
    result = translate_crds(snapshot(*objs))
    a = result.config.http.middlewares["hanzo-a"].basic_auth
    b = result.config.http.middlewares["hanzo-b"].basic_auth
    assert a is not None
    assert a.users == ("alice:$apr1$x$y", "bob:{SHA}abc")
    digest = base64.b64encode(hashlib.sha1(b"pw").digest()).decode()
    assert b is not None
    assert b.users == (f"carol:{{SHA}}{digest}",)
    assert b.realm == "r"


def _refusal(result: Translation, name: str) -> str:
    middleware = result.config.http.middlewares[name]
    assert isinstance(middleware, ExtensionMiddleware)
    assert isinstance(middleware.extension, ProviderRefusal)
    return middleware.extension.reason


def test_missing_secret_refuses_the_middleware_by_name() -> None:
    objs = (*BASE, obj("Middleware", "default", "auth", {"basicAuth": {"secret": "nope"}}))
    result = translate_crds(snapshot(*objs))
    assert "secret default/nope does not exist" in _refusal(result, "default-auth")
    assert any("Middleware default/auth" in str(e) for e in result.errors)


def test_cross_namespace_middleware_refused_unless_allowed() -> None:
    objs = (
        *BASE,
        obj("Middleware", "other", "mw", {"addPrefix": {"prefix": "/x"}}),
        obj(
            "IngressRoute",
            "default",
            "r",
            {
                "routes": [
                    route(
                        "Host(`a`)",
                        [{"name": "whoami", "port": 80}],
                        middlewares=[{"name": "mw", "namespace": "other"}],
                    )
                ]
            },
        ),
        obj(
            "IngressRoute",
            "default",
            "ok",
            {"routes": [route("Host(`b`)", [{"name": "whoami", "port": 80}])]},
        ),
    )
    result = translate_crds(snapshot(*objs))
    key = "default-r-" + hashlib.sha256(b"Host(`a`)").hexdigest()[:20]
    router = result.config.http.routers[key]
    assert router.middlewares[0] == f"{key}-refused"
    assert "middleware other/mw is not in the parent resource namespace default" in _refusal(result, f"{key}-refused")
    ok = "default-ok-" + hashlib.sha256(b"Host(`b`)").hexdigest()[:20]
    assert result.config.http.routers[ok].middlewares == ()

    allowed = translate_crds(snapshot(*objs), CRDOptions(allow_cross_namespace=True))
    assert allowed.config.http.routers[key].middlewares == ("other-mw",)


def test_crd_provider_qualified_reference_needs_cross_namespace() -> None:
    objs = (
        *BASE,
        obj(
            "IngressRoute",
            "default",
            "r",
            {
                "routes": [
                    route("Host(`a`)", [{"name": "whoami", "port": 80}], middlewares=[{"name": "x-mw@kubernetescrd"}])
                ]
            },
        ),
    )
    result = translate_crds(snapshot(*objs))
    key = "default-r-" + hashlib.sha256(b"Host(`a`)").hexdigest()[:20]
    assert "namespace field needs to be explicitly specified" in _refusal(result, f"{key}-refused")
    # Another provider's middleware is fine.
    objs2 = (
        *BASE,
        obj(
            "IngressRoute",
            "default",
            "r",
            {"routes": [route("Host(`a`)", [{"name": "whoami", "port": 80}], middlewares=[{"name": "auth@file"}])]},
        ),
    )
    assert translate_crds(snapshot(*objs2)).config.http.routers[key].middlewares == ("auth@file",)


def test_missing_service_and_missing_tls_secret_disable_only_their_route() -> None:
    objs = (
        *BASE,
        obj("IngressRoute", "default", "gone", {"routes": [route("Host(`gone`)", [{"name": "nothere", "port": 80}])]}),
        obj(
            "IngressRoute",
            "default",
            "tls",
            {"routes": [route("Host(`tls`)", [{"name": "whoami", "port": 80}])], "tls": {"secretName": "missing"}},
        ),
    )
    result = translate_crds(snapshot(*objs))
    gone = "default-gone-" + hashlib.sha256(b"Host(`gone`)").hexdigest()[:20]
    tls = "default-tls-" + hashlib.sha256(b"Host(`tls`)").hexdigest()[:20]
    assert "kubernetes service not found: default/nothere" in _refusal(result, f"{gone}-refused")
    assert "secret default/missing does not exist" in _refusal(result, f"{tls}-refused")
    assert result.config.http.routers[tls].tls is not None


def test_traefik_services_weighted_mirroring_failover() -> None:
    objs = (
        *BASE,
        obj(
            "TraefikService",
            "default",
            "wrr",
            {"weighted": {"services": [{"name": "whoami", "port": 80, "weight": 2}]}},
        ),
        obj(
            "TraefikService",
            "default",
            "mirror",
            {
                "mirroring": {
                    "name": "whoami",
                    "port": 80,
                    "mirrors": [{"name": "wrr", "kind": "TraefikService", "percent": 10}],
                }
            },
        ),
        obj(
            "TraefikService",
            "default",
            "fo",
            {
                "failover": {
                    "service": {"name": "whoami", "port": 80},
                    "fallback": {"name": "wrr", "kind": "TraefikService"},
                }
            },
        ),
        obj(
            "IngressRoute",
            "default",
            "r",
            {"routes": [route("Host(`m`)", [{"name": "mirror", "kind": "TraefikService"}])]},
        ),
    )
    result = translate_crds(snapshot(*objs))
    services = result.config.http.services
    assert result.errors == ()
    assert services["default-wrr"].weighted is not None
    mirroring = services["default-mirror"].mirroring
    assert mirroring is not None
    assert mirroring.service == "default-whoami-80"
    assert [(m.name, m.percent) for m in mirroring.mirrors] == [("default-wrr", 10)]
    failover = services["default-fo"].failover
    assert failover is not None
    assert (failover.service, failover.fallback) == ("default-whoami-80", "default-wrr")
    key = "default-r-" + hashlib.sha256(b"Host(`m`)").hexdigest()[:20]
    assert result.config.http.routers[key].service == "default-mirror"


def test_servers_transport_tls_option_and_store() -> None:
    ca = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    objs = (
        secret("hanzo", "ca", {"ca.crt": ca}),
        secret("hanzo", "cert", {"tls.crt": "CERT", "tls.key": "KEY"}),
        obj(
            "ServersTransport",
            "hanzo",
            "default",
            {
                "serverName": "",
                "maxIdleConnsPerHost": 200,
                "rootCAs": [{"secret": "ca"}],
                "forwardingTimeouts": {"dialTimeout": "5s", "responseHeaderTimeout": "30s", "idleConnTimeout": "90s"},
            },
        ),
        obj(
            "TLSOption",
            "hanzo",
            "default",
            {
                "minVersion": "VersionTLS12",
                "preferServerCipherSuites": True,
                "cipherSuites": ["TLS_AES_128_GCM_SHA256"],
            },
        ),
        obj(
            "TLSOption",
            "hanzo",
            "mtls",
            {"clientAuth": {"secretNames": ["ca"], "clientAuthType": "RequireAndVerifyClientCert"}},
        ),
        obj("TLSStore", "hanzo", "default", {"defaultCertificate": {"secretName": "cert"}}),
        obj("ServersTransport", "hanzo", "cm", {"rootCAs": [{"configMap": "cas"}]}),
    )
    result = translate_crds(snapshot(*objs))
    transport = result.config.http.servers_transports["hanzo-default"]
    assert transport.root_cas == (ca,)
    assert (transport.max_idle_conns_per_host, transport.forwarding_timeouts.dial_timeout) == (200, 5.0)
    assert result.config.tls is not None
    assert result.config.tls.options["default"].min_version == "VersionTLS12"
    client_auth = result.config.tls.options["hanzo-mtls"].client_auth
    assert client_auth is not None
    assert client_auth.ca_files == (ca,)
    store = result.config.tls.stores["default"].default_certificate
    assert store is not None
    assert (store.cert_file, store.key_file) == ("CERT", "KEY")
    assert any("ConfigMaps are not read" in str(e) for e in result.errors)
    assert "hanzo-cm" not in result.config.http.servers_transports


def test_default_tls_option_in_two_namespaces_is_dropped() -> None:
    objs = (
        obj("TLSOption", "a", "default", {"minVersion": "VersionTLS12"}),
        obj("TLSOption", "b", "default", {"minVersion": "VersionTLS13"}),
    )
    result = translate_crds(snapshot(*objs))
    assert result.config.tls is None or "default" not in result.config.tls.options
    assert len([e for e in result.errors if "multiple namespaces" in str(e)]) == 2


def test_ingress_route_tcp_and_udp_names_not_normalized() -> None:
    objs = (
        service("default", "whoamitcp", 8000, port_name="tcp"),
        slice_("default", "whoamitcp", ["10.10.0.5"], port=8000, port_name="tcp"),
        service("default", "whoamitcp2", 8001, port_name="tcp"),
        slice_("default", "whoamitcp2", ["10.10.0.6"], port=8001, port_name="tcp"),
        obj("MiddlewareTCP", "default", "limit", {"inFlightConn": {"amount": 2}}),
        obj("ServersTransportTCP", "default", "st", {"dialTimeout": "3s", "proxyProtocol": {"version": 1}}),
        obj(
            "IngressRouteTCP",
            "default",
            "test.route",
            {
                "entryPoints": ["tcp"],
                "routes": [
                    {
                        "match": "HostSNI(`foo.com`)",
                        "middlewares": [{"name": "limit"}],
                        "services": [
                            {"name": "whoamitcp", "port": 8000, "serversTransport": "st"},
                            {"name": "whoamitcp2", "port": 8001},
                        ],
                    }
                ],
                "tls": {"passthrough": True},
            },
        ),
        obj(
            "IngressRouteUDP",
            "default",
            "udp.route",
            {"entryPoints": ["udp"], "routes": [{"services": [{"name": "whoamitcp", "port": 8000}]}]},
        ),
    )
    result = translate_crds(snapshot(*objs))
    assert result.errors == ()
    tcp = result.config.tcp
    assert tcp is not None
    key = "default-test.route-fdd3e9338e47a45efefc"
    router = tcp.routers[key]
    assert (router.rule, router.service, router.middlewares) == ("HostSNI(`foo.com`)", key, ("default-limit",))
    assert router.tls is not None
    assert router.tls.passthrough
    weighted = tcp.services[key].weighted
    assert weighted is not None
    assert [s.name for s in weighted.services] == [f"{key}-whoamitcp-8000", f"{key}-whoamitcp2-8001"]
    child = tcp.services[f"{key}-whoamitcp-8000"].load_balancer
    assert child is not None
    assert [s.address for s in child.servers] == ["10.10.0.5:8000"]
    assert child.servers_transport == "default-st"
    assert tcp.servers_transports["default-st"].proxy_protocol is not None
    assert tcp.middlewares["default-limit"].in_flight_conn is not None
    udp = result.config.udp
    assert udp is not None
    assert udp.routers["default-udp.route-0"].service == "default-udp.route-0"
    lb = udp.services["default-udp.route-0"].load_balancer
    assert lb is not None
    assert [s.address for s in lb.servers] == ["10.10.0.5:8000"]


def test_ingress_class_annotation_filters_routes() -> None:
    objs = (
        *BASE,
        obj(
            "IngressRoute",
            "default",
            "other",
            {"routes": [route("Host(`o`)", [{"name": "whoami", "port": 80}])]},
            annotations={"kubernetes.io/ingress.class": "nginx"},
        ),
        obj(
            "IngressRoute",
            "default",
            "mine",
            {"routes": [route("Host(`m`)", [{"name": "whoami", "port": 80}])]},
            annotations={"kubernetes.io/ingress.class": "hanzo"},
        ),
    )
    assert translate_crds(snapshot(*objs)).config.http.routers == {}
    routers = translate_crds(snapshot(*objs), CRDOptions(ingress_class="hanzo")).config.http.routers
    assert [r.rule for r in routers.values()] == ["Host(`m`)"]


def test_options_external_name_empty_services_native_lb() -> None:
    objs = (
        service("default", "ext", 443, port_name="https", type="ExternalName", externalName="api.example.com"),
        service("default", "empty", 80),
        *BASE,
        obj("IngressRoute", "default", "e", {"routes": [route("Host(`e`)", [{"name": "ext", "port": 443}])]}),
        obj("IngressRoute", "default", "m", {"routes": [route("Host(`m`)", [{"name": "empty", "port": 80}])]}),
        obj(
            "IngressRoute",
            "default",
            "n",
            {"routes": [route("Host(`n`)", [{"name": "whoami", "port": 80, "nativeLB": True}])]},
        ),
    )
    strict = translate_crds(snapshot(*objs))
    assert len([e for e in strict.errors if "externalName services not allowed" in str(e)]) == 1
    assert len([e for e in strict.errors if "no servers found for default/empty" in str(e)]) == 1
    loose = translate_crds(snapshot(*objs), CRDOptions(allow_external_name_services=True, allow_empty_services=True))
    urls = {
        name: [s.url for s in svc.load_balancer.servers]
        for name, svc in loose.config.http.services.items()
        if svc.load_balancer is not None
    }
    assert ["https://api.example.com:443"] in urls.values()
    assert [] in urls.values()
    assert ["http://10.0.0.9:80"] in urls.values()


def test_an_undecodable_object_is_skipped_with_an_error() -> None:
    bad = obj("IngressRoute", "default", "bad", {"routes": "nope"})
    result = translate_crds(snapshot(*BASE, bad))
    assert result.config.http.routers == {}
    assert any("IngressRoute default/bad: skipped: cannot decode" in str(e) for e in result.errors)


@pytest.mark.parametrize(
    "spec",
    [
        {"addPrefix": {"prefix": "/p"}},
        {"stripPrefixRegex": {"regex": ["^/a"]}},
        {"replacePath": {"path": "/x"}},
        {"replacePathRegex": {"regex": "^/a(.*)", "replacement": "/b$1"}},
        {"redirectScheme": {"scheme": "https", "permanent": True}},
        {"redirectRegex": {"regex": "^http://a", "replacement": "http://b"}},
        {"inFlightReq": {"amount": 10}},
        {"buffering": {"maxRequestBodyBytes": 1000}},
        {"compress": {}},
        {"contentType": {}},
        {"grpcWeb": {"allowOrigins": ["*"]}},
        {"passTLSClientCert": {"pem": True}},
        {"forwardAuth": {"address": "http://auth"}},
        {"errors": {"status": ["500-599"], "query": "/{status}", "service": {"name": "whoami", "port": 80}}},
        {"ipWhiteList": {"sourceRange": ["10.0.0.0/8"]}},
    ],
)
def test_each_file_provider_kind_decodes(spec: dict[str, Any]) -> None:
    result = translate_crds(snapshot(*BASE, obj("Middleware", "default", "m", spec)))
    assert result.errors == ()
    middleware = result.config.http.middlewares["default-m"]
    assert middleware.config is not None
