"""Middleware and MiddlewareTCP specs to the dynamic configuration's typed middlewares, as Traefik's CRD provider.

A Middleware's spec has the file provider's keys, so it is decoded by the same schema-driven decoder
(``config/decode.py``) into the same union (``config/middlewares.py``): every kind the file provider has, with no
per-option code. Only what Kubernetes spells differently is rewritten first (``pkg/provider/kubernetes/crd``):

* ``basicAuth.secret`` / ``digestAuth.secret``: a Secret's users instead of ``users``/``usersFile``;
* ``chain.middlewares[]``: ``{name, namespace}`` references (namespace rules apply);
* ``errors.service``: a LoadBalancerSpec (its service is built like a route's);
* ``forwardAuth.tls.caSecret``/``certSecret`` and ``rateLimit.redis.tls``: PEM from Secrets;
  ``rateLimit.redis.secret``: ``username``/``password`` from a Secret;
* ``headers.sslRedirect`` (and ``sslTemporaryRedirect``, ``sslHost``, ``sslForceHost``): removed in Traefik v3.
  Accepted and dropped with a warning; never a redirect (behind Cloudflare Flexible SSL it would loop).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hanzo_edge.config.decode import DecodeContext, decode_into, dotted
from hanzo_edge.config.middlewares import Middleware
from hanzo_edge.config.tcp import TCPMiddleware
from hanzo_edge.providers.kubernetes.crd_cluster import CRDCluster, RefError

__all__ = ["REMOVED_HEADERS_OPTIONS", "MiddlewareResult", "translate_middleware", "translate_middleware_tcp"]

REMOVED_HEADERS_OPTIONS = ("sslRedirect", "sslTemporaryRedirect", "sslHost", "sslForceHost")

ServiceRef = Callable[[Mapping[str, Any]], str]
"""Builds the service of a LoadBalancerSpec (``errors.service``) and returns the name to refer to it by."""

MiddlewareResult = tuple[Middleware, list[str]]


def translate_middleware(
    cluster: CRDCluster, namespace: str, spec: Mapping[str, Any], service_ref: ServiceRef
) -> MiddlewareResult:
    """Return the typed middleware of a Middleware's ``spec`` and its warnings.

    Raises:
        RefError: a Secret or reference cannot be resolved.
        ConfigError: the spec does not decode (the message names the option).
    """
    warnings: list[str] = []
    raw = {key: value for key, value in spec.items()}
    for key, value in list(raw.items()):
        if not isinstance(value, Mapping):
            continue
        lowered = key.lower()
        rewrite = _REWRITES.get(lowered)
        if rewrite is not None:
            raw[key] = rewrite(cluster, namespace, dict(value), service_ref, warnings)
    ctx = DecodeContext(unknown="warn", display=lambda path: dotted(("spec", *path)))
    middleware: Middleware = decode_into(Middleware, raw, ctx)
    warnings.extend(str(warning) for warning in ctx.warnings)
    return middleware, warnings


def translate_middleware_tcp(spec: Mapping[str, Any]) -> tuple[TCPMiddleware, list[str]]:
    """Return the typed TCP middleware of a MiddlewareTCP's ``spec`` (same keys as the file provider's).

    Raises:
        ConfigError: the spec does not decode.
    """
    ctx = DecodeContext(unknown="warn", display=lambda path: dotted(("spec", *path)))
    middleware: TCPMiddleware = decode_into(TCPMiddleware, dict(spec), ctx)
    return middleware, [str(warning) for warning in ctx.warnings]


def _pop(value: dict[str, Any], name: str) -> Any:
    """Remove and return the key ``name`` matched case-insensitively (paerser's rule), or None."""
    for key in list(value):
        if key.lower() == name.lower():
            return value.pop(key)
    return None


def _auth(
    cluster: CRDCluster, namespace: str, value: dict[str, Any], _ref: ServiceRef, _warnings: list[str]
) -> dict[str, Any]:
    secret = _pop(value, "secret")
    if isinstance(secret, str) and secret:
        value["users"] = list(cluster.auth_users(namespace, secret))
    if _pop(value, "usersFile") is not None:
        # Kubernetes users come from a Secret (a usersFile would be a path inside the ingress pod).
        raise RefError("usersFile is not available in Kubernetes: use secret")
    return value


def _chain(
    cluster: CRDCluster, namespace: str, value: dict[str, Any], _ref: ServiceRef, _warnings: list[str]
) -> dict[str, Any]:
    refs = _pop(value, "middlewares") or []
    names: list[str] = []
    for ref in refs:
        if not isinstance(ref, Mapping) or not isinstance(ref.get("name"), str):
            raise RefError("chain.middlewares entries must be {name, namespace}")
        names.append(cluster.object_key(namespace, ref["name"], str(ref.get("namespace") or ""), "middleware"))
    value["middlewares"] = names
    return value


def _errors(
    _cluster: CRDCluster, _namespace: str, value: dict[str, Any], service_ref: ServiceRef, _warnings: list[str]
) -> dict[str, Any]:
    service = _pop(value, "service")
    if isinstance(service, Mapping):
        value["service"] = service_ref(service)
    elif service is not None:
        raise RefError("errors.service must be a LoadBalancerSpec ({name, port, ...})")
    return value


def _client_tls(cluster: CRDCluster, namespace: str, value: dict[str, Any]) -> dict[str, Any]:
    ca_secret = _pop(value, "caSecret")
    if isinstance(ca_secret, str) and ca_secret:
        value["ca"] = cluster.ca_pem(namespace, ca_secret)
    cert_secret = _pop(value, "certSecret")
    if isinstance(cert_secret, str) and cert_secret:
        value["cert"], value["key"] = cluster.cert_and_key(namespace, cert_secret)
    return value


def _forward_auth(
    cluster: CRDCluster, namespace: str, value: dict[str, Any], _ref: ServiceRef, _warnings: list[str]
) -> dict[str, Any]:
    tls = _pop(value, "tls")
    if isinstance(tls, Mapping):
        value["tls"] = _client_tls(cluster, namespace, dict(tls))
    return value


def _rate_limit(
    cluster: CRDCluster, namespace: str, value: dict[str, Any], _ref: ServiceRef, _warnings: list[str]
) -> dict[str, Any]:
    redis = _pop(value, "redis")
    if isinstance(redis, Mapping):
        redis = dict(redis)
        secret = _pop(redis, "secret")
        if isinstance(secret, str) and secret:
            redis["username"] = cluster.secret_text(namespace, secret, "username")
            redis["password"] = cluster.secret_text(namespace, secret, "password")
        tls = _pop(redis, "tls")
        if isinstance(tls, Mapping):
            redis["tls"] = _client_tls(cluster, namespace, dict(tls))
        value["redis"] = redis
    return value


def _headers(
    _cluster: CRDCluster, _namespace: str, value: dict[str, Any], _ref: ServiceRef, warnings: list[str]
) -> dict[str, Any]:
    for option in REMOVED_HEADERS_OPTIONS:
        if _pop(value, option) is not None:
            warnings.append(
                f"spec.headers.{option}: removed in Traefik v3, has no effect (use a redirectScheme middleware; "
                "behind Cloudflare Flexible SSL a redirect would loop)"
            )
    return value


_Rewrite = Callable[[CRDCluster, str, dict[str, Any], ServiceRef, list[str]], dict[str, Any]]

_REWRITES: dict[str, _Rewrite] = {
    "basicauth": _auth,
    "digestauth": _auth,
    "chain": _chain,
    "errors": _errors,
    "forwardauth": _forward_auth,
    "ratelimit": _rate_limit,
    "headers": _headers,
}
