"""TLSOption, TLSStore, ServersTransport and ServersTransportTCP specs to the dynamic configuration.

Their specs have the file provider's keys except where files become Secrets (Traefik's CRD provider):

* TLSOption ``clientAuth.secretNames`` -> ``clientAuth.caFiles`` (each Secret's ``tls.ca`` or ``ca.crt``);
* TLSStore ``defaultCertificate.secretName`` -> the store's default certificate, ``certificates[].secretName`` ->
  certificates of the ``default`` store (only a store named ``default`` is used);
* ServersTransport(TCP) ``rootCAs[]{secret}`` and ``rootCAsSecrets`` -> ``rootCAs`` (inline PEM),
  ``certificatesSecrets`` -> client ``certificates``. ``rootCAs[]{configMap}`` is refused by name: HIP-68 grants no
  access to ConfigMaps, so the provider never reads them.

Everything else is decoded by the shared decoder into the shared models, so every option is typed and checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hanzo_edge.config.decode import DecodeContext, decode_into, dotted
from hanzo_edge.config.dynamic import ServersTransport
from hanzo_edge.config.tcp import TCPServersTransport
from hanzo_edge.config.tls import CertAndStores, StoreCertificate, TLSOptions, TLSStore
from hanzo_edge.providers.kubernetes.crd_cluster import CRDCluster, RefError

__all__ = [
    "translate_servers_transport",
    "translate_servers_transport_tcp",
    "translate_tls_option",
    "translate_tls_store",
]


def _ctx() -> DecodeContext:
    return DecodeContext(unknown="warn", display=lambda path: dotted(("spec", *path)))


def _pop(value: dict[str, Any], name: str) -> Any:
    for key in list(value):
        if key.lower() == name.lower():
            return value.pop(key)
    return None


def translate_tls_option(cluster: CRDCluster, namespace: str, spec: Mapping[str, Any]) -> tuple[TLSOptions, list[str]]:
    """Return the TLS options of a TLSOption's spec and its warnings.

    Raises:
        RefError: a client-auth Secret is missing or holds no CA.
        ConfigError: the spec does not decode.
    """
    raw = dict(spec)
    client_auth = _pop(raw, "clientAuth")
    if isinstance(client_auth, Mapping):
        client_auth = dict(client_auth)
        secrets = _pop(client_auth, "secretNames") or []
        client_auth["caFiles"] = [cluster.ca_pem(namespace, str(name)) for name in secrets]
        raw["clientAuth"] = client_auth
    ctx = _ctx()
    options: TLSOptions = decode_into(TLSOptions, raw, ctx)
    return options, [str(w) for w in ctx.warnings]


def translate_tls_store(
    cluster: CRDCluster, namespace: str, spec: Mapping[str, Any]
) -> tuple[TLSStore, list[CertAndStores], list[str]]:
    """Return a TLSStore's store, the certificates it adds to the ``default`` store, and its warnings.

    Raises:
        RefError: a Secret is missing or is not a TLS Secret.
        ConfigError: the spec does not decode.
    """
    raw = dict(spec)
    default = _pop(raw, "defaultCertificate")
    certificates = _pop(raw, "certificates") or []
    ctx = _ctx()
    store: TLSStore = decode_into(TLSStore, raw, ctx)
    if isinstance(default, Mapping) and default.get("secretName"):
        cert, key = cluster.cert_and_key(namespace, str(default["secretName"]))
        store = TLSStore(
            default_certificate=StoreCertificate(cert_file=cert, key_file=key),
            default_generated_cert=store.default_generated_cert,
        )
    added: list[CertAndStores] = []
    for entry in certificates:
        if not isinstance(entry, Mapping) or not entry.get("secretName"):
            raise RefError("certificates entries must name a secretName")
        cert, key = cluster.cert_and_key(namespace, str(entry["secretName"]))
        added.append(CertAndStores(cert_file=cert, key_file=key, stores=("default",)))
    return store, added, [str(w) for w in ctx.warnings]


def _root_cas(cluster: CRDCluster, namespace: str, raw: dict[str, Any]) -> list[str]:
    pems: list[str] = []
    for entry in _pop(raw, "rootCAs") or []:
        if isinstance(entry, Mapping) and entry.get("secret"):
            pems.append(cluster.ca_pem(namespace, str(entry["secret"])))
        elif isinstance(entry, Mapping) and entry.get("configMap"):
            raise RefError(
                f"rootCAs configMap {namespace}/{entry['configMap']}: ConfigMaps are not read (HIP-68 grants no "
                "access to them); use a Secret"
            )
        else:
            raise RefError("rootCAs entries must be {secret: name}")
    for name in _pop(raw, "rootCAsSecrets") or []:
        pems.append(cluster.ca_pem(namespace, str(name)))
    return pems


def _certificates(cluster: CRDCluster, namespace: str, raw: dict[str, Any]) -> list[dict[str, str]]:
    out = []
    for name in _pop(raw, "certificatesSecrets") or []:
        cert, key = cluster.cert_and_key(namespace, str(name))
        out.append({"certFile": cert, "keyFile": key})
    return out


def translate_servers_transport(
    cluster: CRDCluster, namespace: str, spec: Mapping[str, Any]
) -> tuple[ServersTransport, list[str]]:
    """Return the servers transport of a ServersTransport's spec and its warnings.

    Raises:
        RefError: a Secret is missing, or a ConfigMap is named.
        ConfigError: the spec does not decode.
    """
    raw = dict(spec)
    raw["rootCAs"] = _root_cas(cluster, namespace, raw)
    raw["certificates"] = _certificates(cluster, namespace, raw)
    ctx = _ctx()
    transport: ServersTransport = decode_into(ServersTransport, raw, ctx)
    return transport, [str(w) for w in ctx.warnings]


def translate_servers_transport_tcp(
    cluster: CRDCluster, namespace: str, spec: Mapping[str, Any]
) -> tuple[TCPServersTransport, list[str]]:
    """Return the TCP servers transport of a ServersTransportTCP's spec and its warnings.

    Raises:
        RefError: a Secret is missing, or a ConfigMap is named.
        ConfigError: the spec does not decode.
    """
    raw = dict(spec)
    tls = _pop(raw, "tls")
    if isinstance(tls, Mapping):
        tls = dict(tls)
        tls["rootCAs"] = _root_cas(cluster, namespace, tls)
        tls["certificates"] = _certificates(cluster, namespace, tls)
        raw["tls"] = tls
    ctx = _ctx()
    transport: TCPServersTransport = decode_into(TCPServersTransport, raw, ctx)
    return transport, [str(w) for w in ctx.warnings]
