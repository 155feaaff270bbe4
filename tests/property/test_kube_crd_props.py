"""Any object an IngressRoute/Middleware/TLSOption/... author can write leaves the translation standing: it is
translated or reported as an error naming it, never an exception that would stop the other objects."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hanzo_edge.providers.kubernetes.crd_translate import translate_crds

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.sampled_from(["", "x", "1m", "10s", "default", "a@b", "*"])
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(
                [
                    "name",
                    "namespace",
                    "port",
                    "secret",
                    "secretNames",
                    "secretName",
                    "middlewares",
                    "service",
                    "services",
                    "rootCAs",
                    "tls",
                    "caSecret",
                    "match",
                    "routes",
                    "kind",
                    "weight",
                    "sticky",
                    "mirrors",
                    "options",
                    "prefixes",
                    "average",
                ]
            ),
            inner,
            max_size=4,
        ),
    ),
    max_leaves=12,
)

KINDS = {
    "ingressroutes": ["routes", "entryPoints", "tls", "parentRefs"],
    "ingressroutetcps": ["routes", "entryPoints", "tls"],
    "ingressrouteudps": ["routes", "entryPoints"],
    "middlewares": ["basicAuth", "chain", "errors", "forwardAuth", "rateLimit", "headers", "stripPrefix", "retry"],
    "middlewaretcps": ["inFlightConn", "ipAllowList"],
    "tlsoptions": ["clientAuth", "minVersion", "cipherSuites"],
    "tlsstores": ["defaultCertificate", "certificates"],
    "traefikservices": ["weighted", "mirroring", "failover", "highestRandomWeight"],
    "serverstransports": ["rootCAs", "certificatesSecrets", "forwardingTimeouts"],
    "serverstransporttcps": ["tls", "dialTimeout", "proxyProtocol"],
}


@st.composite
def crd_objects(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    plural = draw(st.sampled_from(sorted(KINDS)))
    spec = draw(st.dictionaries(st.sampled_from(KINDS[plural]), json_values, max_size=3))
    name = draw(st.sampled_from(["a", "default", "b.c"]))
    return plural, {"metadata": {"name": name, "namespace": draw(st.sampled_from(["ns", "other"]))}, "spec": spec}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(crd_objects(), max_size=6))
def test_arbitrary_crd_objects_never_break_the_translation(objects: list[tuple[str, dict[str, Any]]]) -> None:
    snapshot: dict[str, dict[tuple[str, str], Any]] = {
        "services": {("ns", "a"): {"metadata": {"name": "a", "namespace": "ns"}, "spec": {"ports": [{"port": 1}]}}}
    }
    for plural, obj in objects:
        meta = obj["metadata"]
        snapshot.setdefault(plural, {})[(meta["namespace"], meta["name"])] = obj
    result = translate_crds(snapshot)
    for error in result.errors:
        assert str(error)
