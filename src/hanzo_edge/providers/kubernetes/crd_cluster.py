"""What the CRD translation looks up in the cluster: Services and their servers, Secrets, and Traefik's namespace
rules for references (``pkg/provider/kubernetes/crd/kubernetes.go``).

:class:`CRDCluster` holds one snapshot's decoded Services, EndpointSlices, Secrets and Nodes; every lookup that
fails raises :class:`RefError` with Traefik's wording where it has one, and the translation turns that into an
error on the one object (or route) that needed it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import msgspec

from hanzo_edge.config.errors import ConfigError
from hanzo_edge.providers.kubernetes.crd_objects import ObjectReference
from hanzo_edge.providers.kubernetes.endpoints import (
    ServersError,
    join_host_port,
    native_server,
    node_port_servers,
    scheme_of,
    slice_servers,
)
from hanzo_edge.providers.kubernetes.names import make_id, normalize
from hanzo_edge.providers.kubernetes.objects import EndpointSlice, Node, ObjectDecodeError, Secret, Service, ServicePort

__all__ = ["OBJECT_ERRORS", "PROVIDER_NAME", "CRDCluster", "CRDOptions", "RefError", "ServerAddress"]

PROVIDER_NAME = "kubernetescrd"


class RefError(ValueError):
    """A reference the translation cannot resolve (missing Secret, forbidden namespace, no servers...)."""


OBJECT_ERRORS = (RefError, ConfigError, msgspec.ValidationError, TypeError, ValueError, AttributeError, KeyError)
"""What one object's translation may raise: its own error, not the others'. The API server checks specs against
our CRD schemas, but objects stored before those were installed (or with other CRDs) can have any shape, and
Kubernetes-specific keys (Secret names, references) are read from the raw spec."""


@dataclass(frozen=True, slots=True)
class CRDOptions:
    """The provider options the translation depends on (``providers.kubernetesCRD``)."""

    allow_cross_namespace: bool = False
    allow_external_name_services: bool = False
    allow_empty_services: bool = False
    native_lb_by_default: bool = False
    ingress_class: str = ""
    cross_provider_namespaces: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ServerAddress:
    """One server of a Service port: ``scheme://host:port`` for HTTP, ``host:port`` for TCP/UDP."""

    url: str
    address: str
    fenced: bool = False


class CRDCluster:
    """One snapshot's core objects and the options (see the module docstring)."""

    def __init__(
        self,
        options: CRDOptions,
        services: Mapping[tuple[str, str], Service | ObjectDecodeError],
        slices: Mapping[tuple[str, str], list[EndpointSlice]],
        secrets: Mapping[tuple[str, str], Secret | ObjectDecodeError],
        nodes: Mapping[tuple[str, str], Node] | None,
    ) -> None:
        self.options = options
        self.services = services
        self.slices = slices
        self.secrets = secrets
        self.nodes = nodes

    # -- namespace rules ---------------------------------------------------------------------------------------
    def check_namespace(self, parent_namespace: str, namespace: str, what: str) -> None:
        """Traefik's ``isNamespaceAllowed``: another namespace only with ``allowCrossNamespace``.

        Raises:
            RefError: the reference crosses namespaces and that is not allowed.
        """
        if namespace and namespace != parent_namespace and not self.options.allow_cross_namespace:
            raise RefError(f"{what} is not in the parent resource namespace {parent_namespace}")

    def object_key(self, parent_namespace: str, name: str, namespace: str, what: str) -> str:
        """Return the key a ``{name, namespace}`` reference to a Middleware/TraefikService/ServersTransport means:
        ``normalize(<ns>-<name>)``, or ``name@provider`` as written (another provider).

        Raises:
            RefError: a forbidden cross-namespace (or cross-provider) reference.
        """
        if "@" in name:
            if name.endswith(f"@{PROVIDER_NAME}") and not self.options.allow_cross_namespace:
                # ``ns-name@kubernetescrd`` could name any namespace: refused unless cross-namespace is allowed.
                raise RefError(
                    f"invalid reference to {what} {name}: with crossnamespace disallowed, the namespace field needs "
                    "to be explicitly specified"
                )
            return name
        target = namespace or parent_namespace
        self.check_namespace(parent_namespace, target, f"{what} {target}/{name}")
        return normalize(make_id(target, name))

    def middleware_keys(
        self, parent_namespace: str, refs: Sequence[ObjectReference], problems: list[str]
    ) -> tuple[str, ...]:
        """Return the keys of a route's Middleware(TCP) references; each refused one adds its reason to ``problems``
        and is left out (the route is then refused with every reason, not only the first)."""
        keys: list[str] = []
        for ref in refs:
            try:
                keys.append(self.object_key(parent_namespace, ref.name, ref.namespace, "middleware"))
            except RefError as exc:
                problems.append(str(exc))
        return tuple(keys)

    # -- secrets -----------------------------------------------------------------------------------------------
    def secret(self, namespace: str, name: str) -> Secret:
        """Return the Secret.

        Raises:
            RefError: it does not exist or does not decode.
        """
        secret = self.secrets.get((namespace, name))
        if secret is None:
            raise RefError(f"secret {namespace}/{name} does not exist")
        if isinstance(secret, ObjectDecodeError):
            raise RefError(f"secret {namespace}/{name} does not decode: {secret}")
        return secret

    def secret_text(self, namespace: str, name: str, *keys: str) -> str:
        """Return the first of ``keys`` present in the Secret, base64-decoded as UTF-8 text.

        Raises:
            RefError: the Secret is missing, none of the keys is there, or the value is not base64 text.
        """
        data = self.secret(namespace, name).data or {}
        for key in keys:
            if key in data:
                return _b64_text(data[key], f"secret {namespace}/{name}: {key}")
        raise RefError(f"secret {namespace}/{name} has none of the keys {', '.join(keys)}")

    def ca_pem(self, namespace: str, name: str) -> str:
        """Traefik's ``getCABlocks``: ``tls.ca``, else ``ca.crt``.

        Raises:
            RefError: the Secret is missing or holds no CA.
        """
        return self.secret_text(namespace, name, "tls.ca", "ca.crt")

    def cert_and_key(self, namespace: str, name: str) -> tuple[str, str]:
        """Return ``tls.crt`` and ``tls.key`` of a Secret as PEM text.

        Raises:
            RefError: the Secret is missing, or an entry is missing or empty.
        """
        data = self.secret(namespace, name).data or {}
        missing = [entry for entry in ("tls.crt", "tls.key") if entry not in data]
        if missing:
            raise RefError(f"secret {namespace}/{name} is missing the following TLS data entries: {', '.join(missing)}")
        cert = _b64_text(data["tls.crt"], f"secret {namespace}/{name}: tls.crt")
        key = _b64_text(data["tls.key"], f"secret {namespace}/{name}: tls.key")
        empty = [entry for entry, value in (("tls.crt", cert), ("tls.key", key)) if not value]
        if empty:
            raise RefError(
                f"secret {namespace}/{name} contains the following empty TLS data entries: {', '.join(empty)}"
            )
        return cert, key

    def auth_users(self, namespace: str, name: str) -> tuple[str, ...]:
        """Traefik's ``getAuthCredentials``: a ``kubernetes.io/basic-auth`` Secret gives
        ``username:{SHA}base64(sha1(password))``; any other holds exactly one entry of ``user:hash`` lines.

        Raises:
            RefError: the Secret is missing or not in one of those shapes.
        """
        secret = self.secret(namespace, name)
        data = secret.data or {}
        if secret.type == "kubernetes.io/basic-auth":
            username = _b64_text(data.get("username", ""), f"secret {namespace}/{name}: username")
            password = _b64_text(data.get("password", ""), f"secret {namespace}/{name}: password")
            if not username:
                raise RefError(f"secret {namespace}/{name}: username must not be empty")
            digest = base64.b64encode(hashlib.sha1(password.encode()).digest()).decode()
            return (f"{username}:{{SHA}}{digest}",)
        if len(data) != 1:
            raise RefError(
                f"found {len(data)} elements for secret '{namespace}/{name}', must be single element exactly"
            )
        text = _b64_text(next(iter(data.values())), f"secret {namespace}/{name}")
        users = tuple(line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#"))
        if not users:
            raise RefError(f"secret '{namespace}/{name}' does not contain any user credentials")
        return users

    # -- services ----------------------------------------------------------------------------------------------
    def service_port(self, namespace: str, name: str, port: int | str | None) -> tuple[Service, ServicePort]:
        """Return the Service and its port named or numbered ``port``.

        Raises:
            RefError: the Service or the port does not exist.
        """
        service = self.services.get((namespace, name))
        if service is None:
            raise RefError(f"kubernetes service not found: {namespace}/{name}")
        if isinstance(service, ObjectDecodeError):
            raise RefError(f"kubernetes service {namespace}/{name} does not decode: {service}")
        for candidate in service.spec.ports:
            if (isinstance(port, int) and candidate.port == port) or (isinstance(port, str) and candidate.name == port):
                return service, candidate
        if port is None and len(service.spec.ports) == 1:
            return service, service.spec.ports[0]
        if service.spec.type == "ExternalName" and isinstance(port, int):
            # An ExternalName Service may declare no ports: the reference's number is the port (Traefik).
            return service, ServicePort(port=port)
        raise RefError(f"service port not found: {namespace}/{name} port {port}")

    def servers(
        self, namespace: str, name: str, port: int | str | None, scheme: str, native_lb: bool | None, node_port_lb: bool
    ) -> list[ServerAddress]:
        """Return the servers of a Service port as Traefik's ``loadServers`` finds them.

        Raises:
            RefError: the Service or port is missing, ExternalName is not allowed, or no servers are found
                without ``allowEmptyServices``.
        """
        service, service_port = self.service_port(namespace, name, port)
        scheme = scheme_of(service_port, scheme)
        spec = service.spec
        native = self.options.native_lb_by_default if native_lb is None else native_lb
        servers: list[ServerAddress]
        try:
            if spec.type == "ExternalName":
                if not self.options.allow_external_name_services:
                    raise RefError(f"externalName services not allowed: {namespace}/{name}")
                address = join_host_port(spec.external_name, service_port.port)
                servers = [ServerAddress(f"{scheme}://{address}", address)]
            elif node_port_lb and spec.type == "NodePort":
                found = node_port_servers(service, service_port, scheme, self.nodes)
                servers = [ServerAddress(s.url, s.url.split("://", 1)[1]) for s in found]
            elif native:
                server = native_server(service, service_port, scheme)
                servers = [ServerAddress(server.url, server.url.split("://", 1)[1])]
            else:
                found = slice_servers(self.slices.get((namespace, name), ()), service_port, scheme)
                servers = [ServerAddress(s.url, s.url.split("://", 1)[1], s.fenced) for s in found]
        except ServersError as exc:
            raise RefError(str(exc)) from None
        if not servers and not self.options.allow_empty_services:
            raise RefError(f"no servers found for {namespace}/{name}")
        return servers


def _b64_text(value: str, what: str) -> str:
    try:
        return base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise RefError(f"{what} is not base64 of UTF-8 text") from None
