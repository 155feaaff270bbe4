"""Traefik's CustomResourceDefinitions, generated from our own typed models (``ingress crds``), so they never drift.

Each kind's ``spec`` schema is derived with ``msgspec.inspect`` from the model the provider decodes it with:
``crd_objects.py`` for the routing kinds, and the dynamic configuration's models (``config/middlewares.py``,
``config/tcp.py``, ``config/tls.py``, ``config/dynamic.py``) for the kinds whose spec is the file provider's, patched
where Kubernetes spells things differently (Secrets instead of files, ``{name, namespace}`` references, a
LoadBalancerSpec for ``errors.service``). The result is a structural OpenAPI v3 schema, as the API server requires:
durations are ``int-or-string`` (a number of seconds or a Go duration), free-form maps keep unknown fields.
"""

from __future__ import annotations

import copy
from typing import Any

import msgspec
import msgspec.inspect as mi

from hanzo_edge.config.dynamic import ServersTransport
from hanzo_edge.config.middlewares import Middleware
from hanzo_edge.config.tcp import TCPMiddleware, TCPServersTransport
from hanzo_edge.config.tls import TLSOptions, TLSStore
from hanzo_edge.providers.kubernetes.crd_objects import (
    IngressRouteSpec,
    IngressRouteTCPSpec,
    IngressRouteUDPSpec,
    LoadBalancerSpec,
    ObjectReference,
    TraefikServiceSpec,
)
from hanzo_edge.providers.kubernetes.resources import CRD_RESOURCES, Resource

__all__ = ["crd_documents", "spec_schema"]

Schema = dict[str, Any]

INT_OR_STRING: Schema = {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": True}


def _schema(t: mi.Type) -> Schema:
    if isinstance(t, mi.Metadata):
        if t.extra and t.extra.get("duration"):
            return dict(INT_OR_STRING)
        inner = _schema(t.type)
        description = (t.extra_json_schema or {}).get("description")
        if description:
            inner["description"] = description
        return inner
    if isinstance(t, mi.UnionType):
        members = [m for m in t.types if not isinstance(m, mi.NoneType)]
        kinds = {type(m) for m in members}
        if kinds == {mi.IntType, mi.StrType}:
            return dict(INT_OR_STRING)
        if len(members) == 1:
            return _schema(members[0])
        return {"x-kubernetes-preserve-unknown-fields": True}
    if isinstance(t, mi.BoolType):
        return {"type": "boolean"}
    if isinstance(t, mi.IntType):
        return {"type": "integer"}
    if isinstance(t, mi.FloatType):
        return {"type": "number"}
    if isinstance(t, mi.StrType):
        return {"type": "string"}
    if isinstance(t, mi.LiteralType):
        return {"type": "string", "enum": list(t.values)}
    if isinstance(t, (mi.ListType, mi.VarTupleType, mi.SetType, mi.FrozenSetType)):
        return {"type": "array", "items": _schema(t.item_type)}
    if isinstance(t, mi.DictType):
        return {"type": "object", "additionalProperties": _schema(t.value_type)}
    if isinstance(t, mi.StructType):
        return _struct(t)
    # FrozenDict and Any: a free-form object.
    return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


def _struct(t: mi.StructType) -> Schema:
    properties = {f.encode_name: _schema(f.type) for f in t.fields}
    schema: Schema = {"type": "object", "properties": properties}
    required = [f.encode_name for f in t.fields if f.required]
    if required:
        schema["required"] = required
    return schema


def spec_schema(model: type[msgspec.Struct]) -> Schema:
    """Return the structural schema of ``model``."""
    info = mi.type_info(model)
    if not isinstance(info, mi.StructType):
        raise TypeError(f"{model.__name__} is not a Struct")
    return _struct(info)


def _secret_name(description: str) -> Schema:
    return {"type": "string", "description": description}


def _middleware_spec() -> Schema:
    schema = spec_schema(Middleware)
    props = schema["properties"]
    reference = spec_schema(ObjectReference)
    for auth in ("basicAuth", "digestAuth"):
        auth_props = props[auth]["properties"]
        auth_props.pop("usersFile", None)
        auth_props.pop("users", None)
        auth_props["secret"] = _secret_name(
            "Secret holding the users (kubernetes.io/basic-auth, or one user:hash list)."
        )
    props["chain"]["properties"]["middlewares"] = {"type": "array", "items": reference}
    props["errors"]["properties"]["service"] = spec_schema(LoadBalancerSpec)
    client_tls = {
        "type": "object",
        "properties": {
            "caSecret": _secret_name("Secret with the CA (tls.ca or ca.crt)."),
            "certSecret": _secret_name("TLS Secret with the client certificate (tls.crt, tls.key)."),
            "insecureSkipVerify": {"type": "boolean"},
            "caOptional": {"type": "boolean"},
        },
    }
    props["forwardAuth"]["properties"]["tls"] = copy.deepcopy(client_tls)
    redis = props["rateLimit"]["properties"]["redis"]["properties"]
    redis["tls"] = copy.deepcopy(client_tls)
    redis.pop("username", None)
    redis.pop("password", None)
    redis["secret"] = _secret_name("Secret with the Redis username and password.")
    return schema


def _tls_option_spec() -> Schema:
    schema = spec_schema(TLSOptions)
    schema["properties"]["clientAuth"] = {
        "type": "object",
        "properties": {
            "secretNames": {"type": "array", "items": {"type": "string"}},
            "clientAuthType": {"type": "string"},
        },
    }
    return schema


def _tls_store_spec() -> Schema:
    schema = spec_schema(TLSStore)
    secret_ref = {"type": "object", "properties": {"secretName": {"type": "string"}}, "required": ["secretName"]}
    schema["properties"]["defaultCertificate"] = copy.deepcopy(secret_ref)
    schema["properties"]["certificates"] = {"type": "array", "items": copy.deepcopy(secret_ref)}
    return schema


def _root_cas() -> Schema:
    return {
        "type": "array",
        "items": {"type": "object", "properties": {"secret": {"type": "string"}, "configMap": {"type": "string"}}},
    }


def _servers_transport_spec() -> Schema:
    schema = spec_schema(ServersTransport)
    props = schema["properties"]
    props["rootCAs"] = _root_cas()
    props["rootCAsSecrets"] = {"type": "array", "items": {"type": "string"}}
    props.pop("certificates", None)
    props["certificatesSecrets"] = {"type": "array", "items": {"type": "string"}}
    return schema


def _servers_transport_tcp_spec() -> Schema:
    schema = spec_schema(TCPServersTransport)
    tls = schema["properties"]["tls"]["properties"]
    tls["rootCAs"] = _root_cas()
    tls["rootCAsSecrets"] = {"type": "array", "items": {"type": "string"}}
    tls.pop("certificates", None)
    tls["certificatesSecrets"] = {"type": "array", "items": {"type": "string"}}
    return schema


def _specs() -> dict[str, Schema]:
    return {
        "IngressRoute": spec_schema(IngressRouteSpec),
        "IngressRouteTCP": spec_schema(IngressRouteTCPSpec),
        "IngressRouteUDP": spec_schema(IngressRouteUDPSpec),
        "Middleware": _middleware_spec(),
        "MiddlewareTCP": spec_schema(TCPMiddleware),
        "TLSOption": _tls_option_spec(),
        "TLSStore": _tls_store_spec(),
        "TraefikService": spec_schema(TraefikServiceSpec),
        "ServersTransport": _servers_transport_spec(),
        "ServersTransportTCP": _servers_transport_tcp_spec(),
    }


def _crd(resource: Resource, spec: Schema) -> dict[str, Any]:
    singular = resource.kind.lower()
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{resource.plural}.{resource.group}",
            "labels": {"app.kubernetes.io/name": "hanzo-ingress", "app.kubernetes.io/component": "crds"},
        },
        "spec": {
            "group": resource.group,
            "names": {
                "kind": resource.kind,
                "listKind": f"{resource.kind}List",
                "plural": resource.plural,
                "singular": singular,
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": resource.version,
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": f"{resource.kind} is Traefik's {resource.kind} (served by Hanzo Ingress).",
                            "required": ["metadata", "spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec,
                            },
                        }
                    },
                }
            ],
        },
    }


def crd_documents() -> list[dict[str, Any]]:
    """Return the ten CustomResourceDefinitions, in ``CRD_RESOURCES`` order."""
    specs = _specs()
    return [_crd(resource, specs[resource.kind]) for resource in CRD_RESOURCES]
