"""The KubernetesIngress translation on plain dicts: names, rules, classes, services, slices, TLS and errors.

Expected names and hashes are Traefik v3.6's own (its ``kubernetes_test.go`` fixtures use an Ingress without a
name in namespace ``testing``, hence keys such as ``testing-bar``).
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from hanzo_edge.config.dynamic import RouterTLS
from hanzo_edge.config.services import Cookie, Sticky
from hanzo_edge.providers.kubernetes.ingress_translate import (
    IngressOptions,
    IngressTranslator,
    Translation,
    go_quote,
    host_rule,
    strict_prefix_rule,
    translate_ingresses,
)
from hanzo_edge.providers.kubernetes.names import normalize

Obj = dict[str, Any]


def ingress(
    name: str,
    namespace: str = "testing",
    *,
    rules: list[Obj] | None = None,
    class_name: str | None = None,
    annotations: dict[str, str] | None = None,
    default_backend: Obj | None = None,
    tls: list[Obj] | None = None,
    version: str = "1",
) -> Obj:
    spec: Obj = {"rules": rules or []}
    if class_name is not None:
        spec["ingressClassName"] = class_name
    if default_backend is not None:
        spec["defaultBackend"] = default_backend
    if tls is not None:
        spec["tls"] = tls
    meta: Obj = {"name": name, "namespace": namespace, "resourceVersion": version}
    if annotations:
        meta["annotations"] = annotations
    return {"metadata": meta, "spec": spec}


def backend(service: str, port: int | str) -> Obj:
    return {"service": {"name": service, "port": {"number": port} if isinstance(port, int) else {"name": port}}}


def rule(host: str = "", *paths: tuple[str, str | None, Obj]) -> Obj:
    out: Obj = {"http": {"paths": [{"path": p, "pathType": t, "backend": b} for p, t, b in paths]}}
    if host:
        out["host"] = host
    return out


def service(
    name: str,
    namespace: str = "testing",
    *,
    ports: list[Obj] | None = None,
    type_: str = "ClusterIP",
    annotations: dict[str, str] | None = None,
    **spec: Any,
) -> Obj:
    meta: Obj = {"name": name, "namespace": namespace, "resourceVersion": "1"}
    if annotations:
        meta["annotations"] = annotations
    return {"metadata": meta, "spec": {"type": type_, "ports": ports or [{"name": "", "port": 80}], **spec}}


def endpoint_slice(
    name: str,
    service_name: str,
    addresses: list[str],
    port: int = 8080,
    port_name: str = "",
    namespace: str = "testing",
    conditions: Obj | None = None,
) -> Obj:
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"kubernetes.io/service-name": service_name},
            "resourceVersion": "1",
        },
        "endpoints": [{"addresses": [a], "conditions": conditions or {"ready": True}} for a in addresses],
        "ports": [{"name": port_name, "port": port}],
    }


def ingress_class(name: str, controller: str = "traefik.io/ingress-controller") -> Obj:
    return {"metadata": {"name": name}, "spec": {"controller": controller}}


def snapshot(*objects: tuple[str, Obj]) -> dict[str, dict[tuple[str, str], Obj]]:
    out: dict[str, dict[tuple[str, str], Obj]] = {}
    for plural, obj in objects:
        meta = obj["metadata"]
        out.setdefault(plural, {})[(meta.get("namespace", ""), meta["name"])] = obj
    return out


def svc1() -> list[tuple[str, Obj]]:
    return [
        ("services", service("service1", ports=[{"name": "", "port": 80}])),
        ("endpointslices", endpoint_slice("service1-abc", "service1", ["10.10.0.1", "10.21.0.1"])),
    ]


def routers(result: Translation) -> dict[str, tuple[str, str]]:
    return {name: (r.rule, r.service) for name, r in result.config.http.routers.items()}


def urls(result: Translation, name: str) -> list[str]:
    lb = result.config.http.services[name].load_balancer
    assert lb is not None
    return [s.url for s in lb.servers]


def traefik_ingress(**kwargs: Any) -> Obj:
    return ingress("", annotations={"kubernetes.io/ingress.class": "traefik"}, **kwargs)


def test_normalize_is_traefiks():
    assert normalize("hanzo-api-gateway-api.hanzo.test/") == "hanzo-api-gateway-api-hanzo-test"
    assert normalize("--a__b..c--") == "a-b-c"
    assert normalize("ns-é-ü1") == "ns-é-ü1"


def test_the_seed_example_routes_with_traefiks_names():
    seed = ingress(
        "api-gateway",
        "hanzo",
        class_name="hanzo-ingress",
        annotations={"traefik.ingress.kubernetes.io/router.entrypoints": "websecure"},
        rules=[rule("api.hanzo.test", ("/", "Prefix", backend("api-gateway", 8080)))],
    )
    result = translate_ingresses(
        snapshot(
            ("ingresses", seed),
            ("ingressclasses", ingress_class("hanzo-ingress")),
            ("services", service("api-gateway", "hanzo", ports=[{"name": "http", "port": 8080}])),
            ("endpointslices", endpoint_slice("api-gateway-x", "api-gateway", ["127.0.1.5"], 9000, "http", "hanzo")),
        ),
        IngressOptions(ingress_class="hanzo-ingress"),
    )
    router = result.config.http.routers["hanzo-api-gateway-api-hanzo-test"]
    assert router.rule == 'Host(`api.hanzo.test`) && PathPrefix("/")'
    assert router.service == "hanzo-api-gateway-8080"
    assert router.entry_points == ("websecure",)
    assert urls(result, "hanzo-api-gateway-8080") == ["http://127.0.1.5:9000"]
    assert result.errors == ()
    assert result.status_targets == (("hanzo", "api-gateway"),)


def test_basic_rule_and_empty_host():
    result = translate_ingresses(
        snapshot(("ingresses", traefik_ingress(rules=[rule("", ("/bar", "Prefix", backend("service1", 80)))])), *svc1())
    )
    assert routers(result) == {"testing-bar": ('PathPrefix("/bar")', "testing-service1-80")}
    assert urls(result, "testing-service1-80") == ["http://10.10.0.1:8080", "http://10.21.0.1:8080"]
    lb = result.config.http.services["testing-service1-80"].load_balancer
    assert lb is not None
    assert lb.pass_host_header
    assert lb.strategy == "wrr"


def test_colliding_keys_get_traefiks_rule_hashes():
    paths = rule("", ("/foo/bar", "Prefix", backend("service1", 80)), ("/foo-bar", "Prefix", backend("service1", 80)))
    result = translate_ingresses(snapshot(("ingresses", traefik_ingress(rules=[paths])), *svc1()))
    assert routers(result) == {
        "testing-foo-bar-930f0e8b221e60bc7ab7": ('PathPrefix("/foo/bar")', "testing-service1-80"),
        "testing-foo-bar-207cc2245cb31ba18e29": ('PathPrefix("/foo-bar")', "testing-service1-80"),
    }


def test_wildcard_host_collision():
    rules = [
        rule("*.bar", ("/bar", "Prefix", backend("service1", 80))),
        rule("bar", ("/bar", "Prefix", backend("service1", 80))),
    ]
    result = translate_ingresses(snapshot(("ingresses", traefik_ingress(rules=rules)), *svc1()))
    assert set(routers(result)) == {"testing-bar-bar-78f95adb29fc8d92fb72", "testing-bar-bar-4e7b287b129e0f87d1e1"}
    assert routers(result)["testing-bar-bar-78f95adb29fc8d92fb72"][0] == (
        r"HostRegexp(`^[a-zA-Z0-9-]+\.bar$`) && PathPrefix(" + '"/bar")'
    )


@pytest.mark.parametrize(
    ("path_type", "matcher_annotation", "strict", "expected"),
    [
        ("Exact", None, False, 'Path("/bar")'),
        ("Prefix", None, False, 'PathPrefix("/bar")'),
        ("ImplementationSpecific", None, False, 'PathPrefix("/bar")'),
        (None, None, False, 'PathPrefix("/bar")'),
        ("ImplementationSpecific", "Path", False, 'Path("/bar")'),
        ("ImplementationSpecific", "PathRegexp", False, 'PathRegexp("/bar")'),
        ("Prefix", "Path", False, 'PathPrefix("/bar")'),
        ("Prefix", None, True, '(Path("/bar") || PathPrefix("/bar/"))'),
        ("ImplementationSpecific", None, True, '(Path("/bar") || PathPrefix("/bar/"))'),
        ("Exact", None, True, 'Path("/bar")'),
    ],
)
def test_path_types(path_type: str | None, matcher_annotation: str | None, strict: bool, expected: str):
    annotations = {"kubernetes.io/ingress.class": "traefik"}
    if matcher_annotation:
        annotations["traefik.ingress.kubernetes.io/router.pathmatcher"] = matcher_annotation
    ing = ingress("", annotations=annotations, rules=[rule("", ("/bar", path_type, backend("service1", 80)))])
    result = translate_ingresses(snapshot(("ingresses", ing), *svc1()), IngressOptions(strict_prefix_matching=strict))
    assert routers(result)["testing-bar"][0] == expected


def test_invalid_path_matcher_skips_the_path_with_an_error():
    annotations = {
        "kubernetes.io/ingress.class": "traefik",
        "traefik.ingress.kubernetes.io/router.pathmatcher": "Path(`/`) || Host",
    }
    ing = ingress("x", annotations=annotations, rules=[rule("", ("/bar", None, backend("service1", 80)))])
    result = translate_ingresses(snapshot(("ingresses", ing), *svc1()))
    assert routers(result) == {}
    assert "invalid router path matcher" in str(result.errors[0])


def test_strict_prefix_rules():
    assert strict_prefix_rule("/") == 'PathPrefix("/")'
    assert strict_prefix_rule("/foo/") == '(Path("/foo") || PathPrefix("/foo/"))'


def test_backtick_in_a_path_stays_one_operand():
    assert go_quote("/x`) || Host(`evil") == '"/x`) || Host(`evil"'
    assert go_quote('a"b\\c\n\x01é') == '"a\\"b\\\\c\\n\\x01é"'
    with pytest.raises(ValueError, match="invalid host"):
        host_rule("a`) || Host(`b")


def test_annotations_set_every_router_option():
    annotations = {
        "kubernetes.io/ingress.class": "traefik",
        "traefik.ingress.kubernetes.io/router.entrypoints": "ep1,ep2",
        "traefik.ingress.kubernetes.io/router.middlewares": "md1,md2",
        "traefik.ingress.kubernetes.io/router.priority": "42",
        "traefik.ingress.kubernetes.io/router.rulesyntax": "v2",
        "traefik.ingress.kubernetes.io/router.tls.certresolver": "foobar",
        "traefik.ingress.kubernetes.io/router.tls.domains.0.main": "domain.com",
        "traefik.ingress.kubernetes.io/router.tls.domains.0.sans": "one.domain.com,two.domain.com",
        "traefik.ingress.kubernetes.io/router.tls.domains.1.main": "example.com",
        "traefik.ingress.kubernetes.io/router.tls.options": "foobar",
        "traefik.ingress.kubernetes.io/router.observability.accesslogs": "true",
        "traefik.ingress.kubernetes.io/router.observability.metrics": "false",
        "traefik.ingress.kubernetes.io/router.observability.traceverbosity": "minimal",
    }
    ing = ingress("", annotations=annotations, rules=[rule("", ("/bar", "Exact", backend("service1", 80)))])
    router = translate_ingresses(snapshot(("ingresses", ing), *svc1())).config.http.routers["testing-bar"]
    assert router.entry_points == ("ep1", "ep2")
    assert router.middlewares == ("md1", "md2")
    assert router.priority == 42
    assert router.rule_syntax == "v2"
    assert router.tls is not None
    assert router.tls.cert_resolver == "foobar"
    assert router.tls.options == "foobar"
    assert [(d.main, d.sans) for d in router.tls.domains] == [
        ("domain.com", ("one.domain.com", "two.domain.com")),
        ("example.com", ()),
    ]
    assert router.observability is not None
    assert (router.observability.access_logs, router.observability.metrics) == (True, False)
    assert router.observability.trace_verbosity == "minimal"


def test_router_tls_true_and_tls_section():
    ing = ingress(
        "",
        annotations={"kubernetes.io/ingress.class": "traefik", "traefik.ingress.kubernetes.io/router.tls": "true"},
        rules=[rule("", ("/bar", "Prefix", backend("service1", 80)))],
    )
    assert translate_ingresses(snapshot(("ingresses", ing), *svc1())).config.http.routers["testing-bar"].tls == (
        RouterTLS()
    )


def test_bad_router_annotation_skips_the_ingress_naming_it():
    ing = ingress(
        "bad",
        annotations={
            "kubernetes.io/ingress.class": "traefik",
            "traefik.ingress.kubernetes.io/router.priority": "high",
        },
        rules=[rule("", ("/bar", "Prefix", backend("service1", 80)))],
    )
    good = traefik_ingress(rules=[rule("", ("/ok", "Prefix", backend("service1", 80)))])
    result = translate_ingresses(snapshot(("ingresses", ing), ("ingresses", good), *svc1()))
    assert set(routers(result)) == {"testing-ok"}
    assert [str(e) for e in result.errors] == [
        "Ingress testing/bad: skipped: failed to parse annotations: annotation "
        '"traefik.ingress.kubernetes.io/router.priority": invalid integer "high"'
    ]
    unknown = ingress("u", annotations={"traefik.ingress.kubernetes.io/router.nope": "1"}, rules=[])
    result = translate_ingresses(snapshot(("ingresses", unknown)))
    assert "router.nope" in str(result.errors[0])
    assert "no such option" in str(result.errors[0])


def test_service_annotations():
    annotations = {
        "traefik.ingress.kubernetes.io/service.serversscheme": "h2c",
        "traefik.ingress.kubernetes.io/service.serverstransport": "foobar@file",
        "traefik.ingress.kubernetes.io/service.passhostheader": "false",
        "traefik.ingress.kubernetes.io/service.sticky.cookie": "true",
        "traefik.ingress.kubernetes.io/service.sticky.cookie.name": "foobar",
        "traefik.ingress.kubernetes.io/service.sticky.cookie.secure": "true",
        "traefik.ingress.kubernetes.io/service.sticky.cookie.httponly": "true",
        "traefik.ingress.kubernetes.io/service.sticky.cookie.samesite": "lax",
        "traefik.ingress.kubernetes.io/service.sticky.cookie.maxage": "20",
    }
    result = translate_ingresses(
        snapshot(
            ("ingresses", traefik_ingress(rules=[rule("", ("/bar", "Prefix", backend("service1", 80)))])),
            ("services", service("service1", annotations=annotations)),
            ("endpointslices", endpoint_slice("s", "service1", ["10.10.0.1"])),
        )
    )
    lb = result.config.http.services["testing-service1-80"].load_balancer
    assert lb is not None
    assert [s.url for s in lb.servers] == ["h2c://10.10.0.1:8080"]
    assert lb.servers_transport == "foobar@file"
    assert lb.pass_host_header is False
    assert lb.sticky == Sticky(cookie=Cookie(name="foobar", secure=True, http_only=True, same_site="lax", max_age=20))
    sticky_only = {"traefik.ingress.kubernetes.io/service.sticky.cookie": "true"}
    result = translate_ingresses(
        snapshot(
            ("ingresses", traefik_ingress(rules=[rule("", ("/bar", "Prefix", backend("service1", 80)))])),
            ("services", service("service1", annotations=sticky_only)),
            ("endpointslices", endpoint_slice("s", "service1", ["10.10.0.1"])),
        )
    )
    lb = result.config.http.services["testing-service1-80"].load_balancer
    assert lb is not None
    assert lb.sticky == Sticky(cookie=Cookie())


@pytest.mark.parametrize(
    ("port", "expected_scheme"),
    [
        ({"name": "", "port": 443}, "https"),
        ({"name": "https", "port": 8443}, "https"),
        ({"name": "https-admin", "port": 8443}, "https"),
        ({"name": "web", "port": 8443}, "http"),
    ],
)
def test_https_by_port_or_port_name(port: Obj, expected_scheme: str):
    ing = traefik_ingress(rules=[rule("", ("/bar", "Prefix", backend("service1", port["port"])))])
    result = translate_ingresses(
        snapshot(
            ("ingresses", ing),
            ("services", service("service1", ports=[port])),
            ("endpointslices", endpoint_slice("s", "service1", ["10.10.0.1"], 8443, port["name"])),
        )
    )
    assert urls(result, f"testing-service1-{port['port']}") == [f"{expected_scheme}://10.10.0.1:8443"]


def test_port_by_name_names_the_service_by_port_name():
    ing = traefik_ingress(rules=[rule("", ("/bar", "Prefix", backend("service1", "tchouk")))])
    result = translate_ingresses(
        snapshot(
            ("ingresses", ing),
            ("services", service("service1", ports=[{"name": "tchouk", "port": 80}])),
            ("endpointslices", endpoint_slice("a", "service1", ["10.10.0.1"], 8089, "tchouk")),
            ("endpointslices", endpoint_slice("b", "service1", ["10.10.0.2", "10.10.0.1"], 8089, "tchouk")),
            ("endpointslices", endpoint_slice("c", "service1", ["10.10.0.9"], 9999, "other")),
            ("endpointslices", endpoint_slice("d", "service2", ["10.10.0.8"], 8089, "tchouk")),
        )
    )
    assert routers(result) == {"testing-bar": ('PathPrefix("/bar")', "testing-service1-tchouk")}
    assert urls(result, "testing-service1-tchouk") == ["http://10.10.0.1:8089", "http://10.10.0.2:8089"]


def test_endpoint_conditions_ready_serving_terminating():
    endpoints = endpoint_slice("s", "service1", [], 8080)
    endpoints["endpoints"] = [
        {"addresses": ["10.10.0.1"], "conditions": {"ready": True}},
        {"addresses": ["10.10.0.2"]},
        {"addresses": ["10.10.0.3"], "conditions": {"ready": False}},
        {"addresses": ["10.10.0.4"], "conditions": {"ready": False, "serving": False}},
        {"addresses": ["10.10.0.5"], "conditions": {"ready": False, "serving": True, "terminating": True}},
        {"addresses": ["10.10.0.6"], "conditions": {"ready": False, "serving": True}},
    ]
    result = translate_ingresses(
        snapshot(
            ("ingresses", traefik_ingress(rules=[rule("", ("/bar", "Prefix", backend("service1", 80)))])),
            ("services", service("service1")),
            ("endpointslices", endpoints),
        )
    )
    lb = result.config.http.services["testing-service1-80"].load_balancer
    assert lb is not None
    assert [(s.url, s.fenced) for s in lb.servers] == [
        ("http://10.10.0.1:8080", False),
        ("http://10.10.0.2:8080", False),
        ("http://10.10.0.5:8080", True),
        ("http://10.10.0.6:8080", False),
    ]


def test_no_endpoints_skips_the_path_unless_empty_services_are_allowed():
    objects = [
        ("ingresses", traefik_ingress(rules=[rule("", ("/bar", "Prefix", backend("service1", 80)))])),
        ("services", service("service1")),
    ]
    result = translate_ingresses(snapshot(*objects))
    assert routers(result) == {}
    assert "no endpoints found" in str(result.errors[0])
    allowed = translate_ingresses(snapshot(*objects), IngressOptions(allow_empty_services=True))
    assert routers(allowed) == {"testing-bar": ('PathPrefix("/bar")', "testing-service1-80")}
    assert urls(allowed, "testing-service1-80") == []


def test_missing_service_or_port_keeps_a_router_without_service():
    ing = ingress(
        "web",
        annotations={"kubernetes.io/ingress.class": "traefik"},
        rules=[
            rule(
                "",
                ("/ok", "Prefix", backend("service1", 80)),
                ("/nosvc", "Prefix", backend("missing", 80)),
                ("/noport", "Prefix", backend("service1", 81)),
            )
        ],
    )
    result = translate_ingresses(snapshot(("ingresses", ing), *svc1()))
    assert routers(result) == {
        "testing-web-ok": ('PathPrefix("/ok")', "testing-service1-80"),
        "testing-web-nosvc": ('PathPrefix("/nosvc")', "testing-missing-80"),
        "testing-web-noport": ('PathPrefix("/noport")', "testing-service1-81"),
    }
    assert set(result.config.http.services) == {"testing-service1-80"}
    assert [str(e) for e in result.errors] == [
        "Ingress testing/web: path /nosvc: cannot create service testing-missing-80: service not found",
        "Ingress testing/web: path /noport: cannot create service testing-service1-81: service port not found",
    ]


def test_default_backend_router():
    only_default = traefik_ingress(default_backend=backend("service1", 80))
    second = ingress(
        "again", annotations={"kubernetes.io/ingress.class": "traefik"}, default_backend=backend("service1", 80)
    )
    result = translate_ingresses(snapshot(("ingresses", only_default), ("ingresses", second), *svc1()))
    router = result.config.http.routers["default-router"]
    assert (router.rule, router.priority, router.service) == ('PathPrefix("/")', -2147483648, "default-backend")
    assert urls(result, "default-backend") == ["http://10.10.0.1:8080", "http://10.21.0.1:8080"]
    assert "the default backend already exists" in str(result.errors[0])
    assert result.status_targets == ()


def test_ingress_class_selection():
    def classes(option: str, *objects: tuple[str, Obj]) -> set[str]:
        result = translate_ingresses(snapshot(*objects, *svc1()), IngressOptions(ingress_class=option))
        return {r.split("-")[1] for r in routers(result)}

    def ing(name: str, **kwargs: Any) -> tuple[str, Obj]:
        return ("ingresses", ingress(name, rules=[rule("", ("/" + name, "Prefix", backend("service1", 80)))], **kwargs))

    objects = [
        ("ingressclasses", ingress_class("hanzo-ingress")),
        ("ingressclasses", ingress_class("traefik-lb")),
        ("ingressclasses", ingress_class("nginx", "k8s.io/ingress-nginx")),
        ing("byfield", class_name="hanzo-ingress"),
        ing("otherfield", class_name="traefik-lb"),
        ing("nginxfield", class_name="nginx"),
        ing("unknownfield", class_name="nope"),
        ing("annotated", annotations={"kubernetes.io/ingress.class": "hanzo-ingress"}),
        ing("traefikannotated", annotations={"kubernetes.io/ingress.class": "traefik"}),
        ing("classless"),
    ]
    assert classes("hanzo-ingress", *objects) == {"byfield", "annotated"}
    assert classes("", *objects) == {"byfield", "otherfield", "traefikannotated", "classless"}
    lookup_off = translate_ingresses(
        snapshot(*objects, *svc1()), IngressOptions(ingress_class="hanzo-ingress", disable_cluster_scope_resources=True)
    )
    assert set(routers(lookup_off)) == {"testing-annotated-annotated"}


def test_external_name_and_native_lb():
    ing = traefik_ingress(rules=[rule("", ("/bar", "Prefix", backend("ext", 8080)))])
    ext = service("ext", type_="ExternalName", externalName="ingress.test", ports=[{"name": "", "port": 8080}])
    refused = translate_ingresses(snapshot(("ingresses", ing), ("services", ext)))
    assert routers(refused) == {}
    assert "externalName services not allowed: testing/ext" in str(refused.errors[0])
    allowed = translate_ingresses(
        snapshot(("ingresses", ing), ("services", ext)), IngressOptions(allow_external_name_services=True)
    )
    assert urls(allowed, "testing-ext-8080") == ["http://ingress.test:8080"]

    native = service("ext", clusterIP="10.0.0.1", ports=[{"name": "", "port": 8080}])
    by_default = translate_ingresses(
        snapshot(
            ("ingresses", ing), ("services", native), ("endpointslices", endpoint_slice("s", "ext", ["10.9.9.9"]))
        ),
        IngressOptions(native_lb_by_default=True),
    )
    assert urls(by_default, "testing-ext-8080") == ["http://10.0.0.1:8080"]
    opted_out = service(
        "ext",
        clusterIP="10.0.0.1",
        ports=[{"name": "", "port": 8080}],
        annotations={"traefik.ingress.kubernetes.io/service.nativelb": "false"},
    )
    result = translate_ingresses(
        snapshot(
            ("ingresses", ing), ("services", opted_out), ("endpointslices", endpoint_slice("s", "ext", ["10.9.9.9"]))
        ),
        IngressOptions(native_lb_by_default=True),
    )
    assert urls(result, "testing-ext-8080") == ["http://10.9.9.9:8080"]


def test_tls_secrets_become_certificates():
    def secret(name: str, **data: str) -> Obj:
        return {
            "metadata": {"name": name, "namespace": "testing"},
            "data": {k.replace("_", "."): base64.b64encode(v.encode()).decode() for k, v in data.items()},
        }

    ing = traefik_ingress(
        rules=[rule("example.com", ("", None, backend("service1", 80)))],
        tls=[{"secretName": "cert"}, {"secretName": "cert"}, {"secretName": "missing"}, {"hosts": ["x"]}],
    )
    result = translate_ingresses(
        snapshot(("ingresses", ing), ("secrets", secret("cert", tls_crt="CRT", tls_key="KEY")), *svc1())
    )
    assert routers(result) == {"testing-example-com": ("Host(`example.com`)", "testing-service1-80")}
    assert result.config.http.routers["testing-example-com"].tls == RouterTLS()
    assert result.config.tls is not None
    assert [(c.cert_file, c.key_file) for c in result.config.tls.certificates] == [("CRT", "KEY")]
    assert [str(e) for e in result.errors] == [
        "Ingress testing/: error configuring TLS: secret testing/missing does not exist"
    ]
    broken = translate_ingresses(snapshot(("ingresses", ing), ("secrets", secret("cert", tls_crt="CRT")), *svc1()))
    assert "missing the following TLS data entries: tls.key" in str(broken.errors[0])


def test_objects_that_do_not_decode_are_skipped_naming_them():
    bad = ingress("bad", annotations={"kubernetes.io/ingress.class": "traefik"})
    bad["spec"]["rules"] = "not a list"
    good = traefik_ingress(rules=[rule("", ("/bar", "Prefix", backend("service1", 80)))])
    result = translate_ingresses(snapshot(("ingresses", bad), ("ingresses", good), *svc1()))
    assert set(routers(result)) == {"testing-bar"}
    assert str(result.errors[0]).startswith("Ingress testing/bad: skipped: cannot decode: Expected `array`")


def test_translator_reuses_decoded_objects_and_sees_changes():
    translator = IngressTranslator(IngressOptions())
    objects = snapshot(
        ("ingresses", traefik_ingress(rules=[rule("", ("/bar", "Prefix", backend("service1", 80)))])), *svc1()
    )
    first = translator.translate(objects)
    assert translator.translate(objects).config == first.config
    changed = endpoint_slice("service1-abc", "service1", ["10.10.0.7"])
    changed["metadata"]["resourceVersion"] = "2"
    objects["endpointslices"][("testing", "service1-abc")] = changed
    assert urls(translator.translate(objects), "testing-service1-80") == ["http://10.10.0.7:8080"]


def test_translator_forgets_deleted_objects():
    translator = IngressTranslator(IngressOptions())
    objects = snapshot(
        ("ingresses", traefik_ingress(rules=[rule("", ("/bar", "Prefix", backend("service1", 80)))])), *svc1()
    )
    assert set(routers(translator.translate(objects))) == {"testing-bar"}
    del objects["ingresses"]
    del objects["services"]
    assert routers(translator.translate(objects)) == {}
    assert translator._router_annotations == {}
    assert translator._service_annotations == {}
