"""Where the API server is and how to authenticate to it, resolved as Traefik's Kubernetes providers do.

Traefik (`pkg/provider/kubernetes/*/client.go`, ``newClient``) picks, in this order:

1. **in cluster** when ``KUBERNETES_SERVICE_HOST`` and ``KUBERNETES_SERVICE_PORT`` are both set: the service
   account's token (re-read when it rotates, see `TokenSource`), its ``ca.crt`` and namespace; an explicit
   ``endpoint`` flag replaces only the host (client-go's ``InClusterConfig`` then ``config.Host = endpoint``);
2. **KUBECONFIG** when set: its current context (server, certificate-authority(-data), insecure-skip-tls-verify,
   tls-server-name, token/tokenFile, client-certificate/key(-data), username/password); a ``:``-separated list is
   merged as kubectl merges it (the first file that sets a name or ``current-context`` wins);
3. **out of cluster** from the ``endpoint``, ``token`` and ``certAuthFilePath`` flags (``endpoint`` is required).

What a kubeconfig asks for and we cannot do (``exec`` or ``auth-provider`` plugins, ``proxy-url``) is an error that
names it, never ignored.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

__all__ = [
    "IN_CLUSTER_DIR",
    "KubeConfigError",
    "KubeConnection",
    "TokenSource",
    "check_tls",
    "from_flags",
    "from_in_cluster",
    "from_kubeconfig",
    "resolve_connection",
    "ssl_context",
]

IN_CLUSTER_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
"""Where the kubelet mounts the service account's ``token``, ``ca.crt`` and ``namespace``."""

TOKEN_REFRESH_SECONDS = 60.0
"""How old a token read from a file may get before it is read again (client-go's cached token source: 1 minute)."""


class KubeConfigError(ValueError):
    """The connection settings are unusable; the message names the source (flag, file, context)."""


class TokenSource:
    """A bearer token, either fixed or read from a file that the kubelet rotates.

    A file token is re-read once it is older than `TOKEN_REFRESH_SECONDS` (by the injected `clock`) and whenever
    the API server answered 401 (`invalidate`), so a rotated projected token is picked up without a restart.
    """

    def __init__(self, token: str = "", path: str = "", clock: Callable[[], float] | None = None) -> None:
        import time

        self._fixed = token
        self._path = path
        self._clock = clock or time.monotonic
        self._cached = ""
        self._read_at: float | None = None

    @property
    def path(self) -> str:
        return self._path

    def invalidate(self) -> None:
        """Forget a file token so the next request reads the file again (after a 401)."""
        self._read_at = None

    def token(self) -> str:
        """The token to send now ("" when there is none)."""
        if not self._path:
            return self._fixed
        now = self._clock()
        if self._read_at is None or now - self._read_at >= TOKEN_REFRESH_SECONDS:
            try:
                with open(self._path, encoding="utf-8") as handle:
                    self._cached = handle.read().strip()
            except OSError as exc:
                # Keep the last good token: a rotation replaces the file atomically, so a failed read is
                # transient; with none read yet the request goes without and the server's 401 says why.
                if self._read_at is None and not self._cached:
                    raise KubeConfigError(f"cannot read token file {self._path}: {exc.strerror or exc}") from None
            self._read_at = now
        return self._cached

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TokenSource):
            return NotImplemented
        return (self._fixed, self._path) == (other._fixed, other._path)

    def __hash__(self) -> int:
        return hash((self._fixed, self._path))

    def __repr__(self) -> str:
        # Never print a token.
        return f"TokenSource(path={self._path!r}, fixed={'yes' if self._fixed else 'no'})"


@dataclass(frozen=True, slots=True)
class KubeConnection:
    """Everything needed to talk to one API server. PEM material is kept as bytes (files are read up front)."""

    server: str
    """``https://host:port`` or ``http://host:port`` (plain HTTP only when asked for, e.g. a local proxy)."""
    source: str
    """Where these settings came from, for logs: ``in-cluster``, ``kubeconfig <path> context <name>``, ``flags``."""
    token: TokenSource = field(default_factory=TokenSource)
    ca_pem: bytes | None = None
    client_cert_pem: bytes | None = None
    client_key_pem: bytes | None = None
    insecure_skip_tls_verify: bool = False
    tls_server_name: str = ""
    username: str = ""
    password: str = field(default="", repr=False)
    namespace: str = ""
    """The namespace of the context or service account ("" when unknown); informational for the providers."""

    @property
    def is_tls(self) -> bool:
        return self.server.lower().startswith("https://")


def _read_bytes(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise KubeConfigError(f"cannot read {what} {path}: {exc.strerror or exc}") from None


def _normalise_server(server: str, where: str) -> str:
    server = server.strip().rstrip("/")
    if not server:
        raise KubeConfigError(f"{where}: no server address")
    if "://" not in server:
        # client-go accepts a bare host:port and defaults to https.
        server = f"https://{server}"
    scheme = server.split("://", 1)[0].lower()
    if scheme not in ("http", "https"):
        raise KubeConfigError(f"{where}: unsupported scheme {scheme!r} in server {server!r}")
    return server


def from_flags(endpoint: str, token: str = "", cert_auth_file_path: str = "") -> KubeConnection:
    """Traefik's ``newExternalClusterClient``: endpoint (required), bearer token, CA file.

    The token is Traefik's FileOrContent: a path to an existing file means the token is read from it (and re-read
    as it rotates, like a service account token).
    """
    if not endpoint:
        raise KubeConfigError("endpoint missing for external cluster client")
    ca = _read_bytes(cert_auth_file_path, "certAuthFilePath") if cert_auth_file_path else None
    tokens = TokenSource(path=token) if token and os.path.isfile(token) else TokenSource(token=token)
    return KubeConnection(server=_normalise_server(endpoint, "endpoint"), source="flags", token=tokens, ca_pem=ca)


def from_in_cluster(
    env: Mapping[str, str],
    endpoint: str = "",
    directory: str = IN_CLUSTER_DIR,
    clock: Callable[[], float] | None = None,
) -> KubeConnection:
    """client-go's ``InClusterConfig`` (service host/port from the environment, the mounted service account)."""
    host = env.get("KUBERNETES_SERVICE_HOST", "")
    port = env.get("KUBERNETES_SERVICE_PORT", "")
    if endpoint:
        server = _normalise_server(endpoint, "endpoint")
    else:
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"  # an IPv6 service address
        server = f"https://{host}:{port}"
    token_path = os.path.join(directory, "token")
    tokens = TokenSource(path=token_path, clock=clock)
    tokens.token()  # fail now, naming the file, when there is no service account token at all
    ca_path = os.path.join(directory, "ca.crt")
    ca = _read_bytes(ca_path, "service account CA") if os.path.exists(ca_path) else None
    namespace = ""
    try:
        with open(os.path.join(directory, "namespace"), encoding="utf-8") as handle:
            namespace = handle.read().strip()
    except OSError:
        pass
    return KubeConnection(server=server, source="in-cluster", token=tokens, ca_pem=ca, namespace=namespace)


def _load_kubeconfig_files(paths: list[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Merge kubeconfig files as kubectl does: the first file that sets a named entry or a scalar wins.

    Returns the merged document and, for each cluster/user name, the directory of the file that defined it
    (relative file paths in a kubeconfig are relative to that file).
    """
    merged: dict[str, Any] = {"clusters": {}, "users": {}, "contexts": {}, "current-context": ""}
    origin: dict[str, str] = {}
    for path in paths:
        try:
            with open(path, encoding="utf-8") as handle:
                document = yaml.safe_load(handle) or {}
        except FileNotFoundError:
            continue  # kubectl skips missing files of the list
        except (OSError, yaml.YAMLError) as exc:
            raise KubeConfigError(f"cannot read kubeconfig {path}: {exc}") from None
        if not isinstance(document, dict):
            raise KubeConfigError(f"kubeconfig {path}: not a mapping")
        base = os.path.dirname(os.path.abspath(path))
        for section, inner in (("clusters", "cluster"), ("users", "user"), ("contexts", "context")):
            entries = document.get(section) or []
            if not isinstance(entries, list):
                raise KubeConfigError(f"kubeconfig {path}: {section} is not a list")
            for entry in entries:
                if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                    raise KubeConfigError(f"kubeconfig {path}: an entry of {section} has no name")
                name = entry["name"]
                if name not in merged[section]:
                    body = entry.get(inner) or {}
                    if not isinstance(body, dict):
                        raise KubeConfigError(f"kubeconfig {path}: {section} {name!r}: {inner} is not a mapping")
                    merged[section][name] = body
                    origin[f"{section}/{name}"] = base
        current = document.get("current-context")
        if current and not merged["current-context"]:
            merged["current-context"] = str(current)
    return merged, origin


def _pem(body: Mapping[str, Any], key: str, base: str, where: str) -> bytes | None:
    """``<key>-data`` (base64) or ``<key>`` (a file, relative to the kubeconfig's directory)."""
    data = body.get(f"{key}-data")
    if data:
        try:
            return base64.b64decode(str(data), validate=True)
        except ValueError:
            raise KubeConfigError(f"{where}: {key}-data is not valid base64") from None
    path = body.get(key)
    if path:
        return _read_bytes(os.path.join(base, os.path.expanduser(str(path))), f"{where} {key}")
    return None


def from_kubeconfig(kubeconfig: str, context: str = "", clock: Callable[[], float] | None = None) -> KubeConnection:
    """The current context (or `context`) of the kubeconfig file(s) named by `kubeconfig` (``a:b`` merges)."""
    paths = [p for p in kubeconfig.split(os.pathsep) if p]
    merged, origin = _load_kubeconfig_files(paths)
    name = context or merged["current-context"]
    if not name:
        raise KubeConfigError(f"kubeconfig {kubeconfig}: no current-context")
    ctx = merged["contexts"].get(name)
    if ctx is None:
        raise KubeConfigError(f"kubeconfig {kubeconfig}: context {name!r} not found")
    where = f"kubeconfig {kubeconfig} context {name}"
    cluster_name = str(ctx.get("cluster", ""))
    cluster = merged["clusters"].get(cluster_name)
    if cluster is None:
        raise KubeConfigError(f"{where}: cluster {cluster_name!r} not found")
    user_name = str(ctx.get("user", ""))
    user = merged["users"].get(user_name, {}) if user_name else {}
    if user_name and user_name not in merged["users"]:
        raise KubeConfigError(f"{where}: user {user_name!r} not found")
    for unsupported in ("exec", "auth-provider"):
        if user.get(unsupported):
            raise KubeConfigError(f"{where}: user {user_name!r}: {unsupported} credential plugins are not supported")
    if cluster.get("proxy-url"):
        raise KubeConfigError(f"{where}: cluster {cluster_name!r}: proxy-url is not supported")
    insecure = bool(cluster.get("insecure-skip-tls-verify", False))
    if insecure and (cluster.get("certificate-authority") or cluster.get("certificate-authority-data")):
        # client-go refuses this combination too.
        raise KubeConfigError(
            f"{where}: cluster {cluster_name!r}: specifying a root certificates file with the insecure flag is not "
            "allowed"
        )
    cluster_base = origin.get(f"clusters/{cluster_name}", ".")
    user_base = origin.get(f"users/{user_name}", ".")
    token = str(user.get("token") or "")
    token_file = str(user.get("tokenFile") or "")
    # A literal token wins over tokenFile (client-go's order); a relative tokenFile is relative to the kubeconfig.
    token_file = os.path.join(user_base, os.path.expanduser(token_file)) if token_file and not token else ""
    cert = _pem(user, "client-certificate", user_base, where)
    key = _pem(user, "client-key", user_base, where)
    if (cert is None) != (key is None):
        raise KubeConfigError(f"{where}: user {user_name!r}: client-certificate and client-key go together")
    tokens = TokenSource(token=token, path=token_file, clock=clock)
    tokens.token()  # a tokenFile that cannot be read fails now, naming it, not at the first request
    return KubeConnection(
        server=_normalise_server(str(cluster.get("server") or ""), f"{where}: cluster {cluster_name!r}"),
        source=where,
        token=tokens,
        ca_pem=_pem(cluster, "certificate-authority", cluster_base, where),
        client_cert_pem=cert,
        client_key_pem=key,
        insecure_skip_tls_verify=insecure,
        tls_server_name=str(cluster.get("tls-server-name") or ""),
        username=str(user.get("username") or ""),
        password=str(user.get("password") or ""),
        namespace=str(ctx.get("namespace") or ""),
    )


def ssl_context(connection: KubeConnection) -> ssl.SSLContext:
    """The client TLS context for `connection`: its CA only (else the system roots), its client certificate."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if connection.insecure_skip_tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif connection.ca_pem is not None:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cadata=connection.ca_pem.decode("ascii"))
    if connection.client_cert_pem is not None and connection.client_key_pem is not None:
        # ssl loads client certificates from files only: write them to a private directory, load, remove at once.
        with tempfile.TemporaryDirectory(prefix="hanzo-kube-") as directory:
            cert_path = os.path.join(directory, "client.crt")
            key_path = os.path.join(directory, "client.key")
            for path, data in ((cert_path, connection.client_cert_pem), (key_path, connection.client_key_pem)):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
            context.load_cert_chain(cert_path, key_path)
    # HTTP/1.1 only: the API server speaks both, and watch streams are simplest as chunked JSON lines.
    context.set_alpn_protocols(["http/1.1"])
    return context


def check_tls(connection: KubeConnection) -> KubeConnection:
    """Load the connection's TLS material once now, so a bad CA or key is a startup error naming its source."""
    if connection.is_tls:
        try:
            ssl_context(connection)
        except (ssl.SSLError, ValueError, OSError) as exc:
            raise KubeConfigError(f"{connection.source}: unusable TLS material: {exc}") from None
    return connection


def resolve_connection(
    endpoint: str = "",
    token: str = "",
    cert_auth_file_path: str = "",
    env: Mapping[str, str] | None = None,
    in_cluster_dir: str = IN_CLUSTER_DIR,
    clock: Callable[[], float] | None = None,
) -> KubeConnection:
    """Traefik's choice between in-cluster, KUBECONFIG and the flags (see the module docstring)."""
    env = os.environ if env is None else env
    if env.get("KUBERNETES_SERVICE_HOST") and env.get("KUBERNETES_SERVICE_PORT"):
        return check_tls(from_in_cluster(env, endpoint=endpoint, directory=in_cluster_dir, clock=clock))
    if env.get("KUBECONFIG"):
        return check_tls(from_kubeconfig(env["KUBECONFIG"], clock=clock))
    return check_tls(from_flags(endpoint, token, cert_auth_file_path))
