"""One generation of TLS: the certificate store, the validated options, and which options each host gets.

Built from every provider's ``tls`` section when the configuration is built. Options are named as Traefik names
them: ``default`` (whoever defines it) or ``<name>@<provider>``. An option that cannot be honoured is kept with its
error (:attr:`TLSCatalog.broken`) so the routers using it are disabled with that error while the rest serve.

A handshake asks :meth:`TLSCatalog.context_for` with the entrypoint and the ClientHello's server name: the host's
options (per entrypoint, chosen at build time from the TLS routers' ``Host`` rules; ``default`` for a host whose
routers disagree, or that no router names) and the certificate SNI selects give one ``ssl.SSLContext``, built on
first use and cached for the generation.

Contexts outlive generations when nothing they depend on changed (:meth:`TLSCatalog.adopt`): OpenSSL keeps its
session cache and its session-ticket keys per ``SSL_CTX``, so a context rebuilt at every reload would make every
client do a full handshake after any configuration change (a Kubernetes controller reloads on every event). A
context is keyed by its options' name and the content-addressed paths of its certificate and key; it is carried
into the next generation when the options compile to an equal :class:`TLSSettings` (versions, ciphers, curve, client
CA PEM text, ALPN, ...) and the store still serves that certificate. A rotated certificate has another content
path, so its handshakes get a new context while connections made with the old one keep it.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field

from hanzo_edge.config.dynamic import Configuration
from hanzo_edge.config.tls import TLSOptions
from hanzo_edge.tls.certificates import (
    CertificateError,
    CertificateInfo,
    CertificateStore,
    LoadedCertificate,
    file_fingerprints,
    generated_certificate_if_made,
    load_certificate,
)
from hanzo_edge.tls.options import ServerContext, TLSOptionError, TLSSettings, compile_options

__all__ = ["DEFAULT_OPTIONS", "TLSCatalog", "build_catalog", "options_name"]

log = logging.getLogger("hanzo_edge.tls")

DEFAULT_OPTIONS = "default"


def options_name(name: str, provider: str) -> str:
    """Qualify a TLS options reference as Traefik does: ``default`` stays, ``x`` becomes ``x@provider``."""
    if not name or name == DEFAULT_OPTIONS:
        return DEFAULT_OPTIONS
    if "@" in name or not provider:
        return name
    return f"{name}@{provider}"


@dataclass(slots=True)
class TLSCatalog:
    """See the module docstring. ``hosts[entrypoint][host]`` is the options name of that host there."""

    store: CertificateStore
    options: dict[str, TLSSettings] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    hosts: dict[str, dict[str, str]] = field(default_factory=dict)
    tls_entry_points: set[str] = field(default_factory=set)
    """Entrypoints with at least one TLS router: only they look for a ClientHello."""
    fingerprints: Mapping[str, tuple[int, int, int]] = field(default_factory=dict)
    """The certificate, key and CA files as they were *before* they were read: a poll that sees anything else
    reloads (a file replaced while it was being read is then read again)."""
    _contexts: dict[tuple[str, str, str], ServerContext] = field(default_factory=dict)
    """(options name, certificate path, key path) → context; the paths name the PEM bytes' hashes."""

    def certificates(self) -> list[CertificateInfo]:
        """Parsed info (cn, serial, sans, not_after) of every configured certificate (not the generated one)."""
        return self.store.certificates()

    def files_changed(self) -> bool:
        """True when a certificate, key or CA file differs from what this generation read."""
        return file_fingerprints(self.fingerprints) != self.fingerprints

    def options_for_host(self, entry_point: str, host: str) -> str:
        """The options name a request or handshake for ``host`` gets on ``entry_point`` (exact, wildcard, default)."""
        table = self.hosts.get(entry_point)
        if not table or not host:
            return DEFAULT_OPTIONS
        host = host.lower().rstrip(".")
        found = table.get(host)
        if found is not None:
            return found
        _, dot, parent = host.partition(".")
        if dot:
            found = table.get("*." + parent)
            if found is not None:
                return found
        return DEFAULT_OPTIONS

    def context_for(self, entry_point: str, server_name: str) -> ssl.SSLContext | None:
        """The context of a handshake for ``server_name`` ("" without SNI); None when ``sniStrict`` refuses it."""
        return self.context_with_options(self.options_for_host(entry_point, server_name), server_name)

    def context_with_options(self, name: str, server_name: str) -> ssl.SSLContext | None:
        """The context of options ``name`` with the certificate SNI selects (a TCP router's own options)."""
        settings = self.options.get(name) or self.options.get(DEFAULT_OPTIONS)
        if settings is None:
            return None  # the default options themselves are broken: no handshake can be served
        cert = self.store.match(server_name) if server_name else None
        if cert is None:
            if settings.sni_strict:
                return None
            cert = self.store.default
        key = (settings.name, cert.cert_path, cert.key_path)
        ctx = self._contexts.get(key)
        if ctx is None:
            ctx = self._contexts[key] = settings.context(cert.cert_path, cert.key_path)
        return ctx

    def adopt(self, previous: TLSCatalog) -> int:
        """Take over ``previous``'s contexts that this generation would build identically; return how many.

        Equal options (the whole compiled record, not just the name) and a certificate this store still serves make
        an identical context, so keeping the old one keeps its session cache and ticket keys (see the module
        docstring). Contexts of changed options or of certificates no longer served are left to die with
        ``previous`` (open connections hold theirs).
        """
        served = self._served_paths()
        adopted = 0
        for key, ctx in previous._contexts.items():
            name, cert_path, key_path = key
            settings = self.options.get(name)
            if settings is None or settings != previous.options.get(name) or (cert_path, key_path) not in served:
                continue
            self._contexts.setdefault(key, ctx)
            adopted += 1
        return adopted

    def _served_paths(self) -> set[tuple[str, str]]:
        """(certificate, key) paths a handshake of this generation can be given."""
        store = self.store
        paths = {(cert.cert_path, cert.key_path) for cert in store.loaded}
        # Without a configured default the process's generated one serves; asked only if it was made already (a
        # context of it can exist only then), so adopting never generates a key.
        default = store.configured_default or generated_certificate_if_made()
        if default is not None:
            paths.add((default.cert_path, default.key_path))
        return paths


def _merge_options(snapshots: Mapping[str, Configuration]) -> dict[str, TLSOptions]:
    merged: dict[str, TLSOptions] = {DEFAULT_OPTIONS: TLSOptions(min_version="VersionTLS12")}
    for provider, config in snapshots.items():
        if config.tls is None:
            continue
        for name, options in config.tls.options.items():
            merged[options_name(name, provider)] = options
    return merged


def _referenced_files(snapshots: Mapping[str, Configuration]) -> list[str]:
    """Every certificate, key and CA file path (not inline PEM) the TLS sections name."""
    values: list[str] = []
    for config in snapshots.values():
        tls = config.tls
        if tls is None:
            continue
        for entry in tls.certificates:
            values += [entry.cert_file, entry.key_file]
        for store in tls.stores.values():
            if store.default_certificate is not None:
                values += [store.default_certificate.cert_file, store.default_certificate.key_file]
        for options in tls.options.values():
            if options.client_auth is not None:
                values += options.client_auth.ca_files
    return [value for value in dict.fromkeys(values) if value and not value.lstrip().startswith("-----BEGIN")]


def build_catalog(snapshots: Mapping[str, Configuration], previous: TLSCatalog | None = None) -> TLSCatalog:
    """Load every provider's certificates and options. Never raises: what fails is in ``errors``/``broken``.

    ``previous``: the generation being replaced, whose unchanged contexts are kept (:meth:`TLSCatalog.adopt`).
    """
    fingerprints = file_fingerprints(_referenced_files(snapshots))
    errors: list[str] = []
    certificates: list[LoadedCertificate] = []
    default: LoadedCertificate | None = None
    for provider, config in snapshots.items():
        tls = config.tls
        if tls is None:
            continue
        for index, entry in enumerate(tls.certificates):
            stores = entry.stores or (DEFAULT_OPTIONS,)
            if DEFAULT_OPTIONS not in stores:
                errors.append(
                    f"tls.certificates[{index}]@{provider}: only the default store is used (stores: {list(stores)})"
                )
                continue
            try:
                certificates.append(load_certificate(entry.cert_file, entry.key_file))
            except CertificateError as exc:
                errors.append(f"tls.certificates[{index}]@{provider}: {exc}")
        for store_name, store in tls.stores.items():
            if store_name != DEFAULT_OPTIONS:
                errors.append(f"tls.stores.{store_name}@{provider}: only the default store is used")
                continue
            if store.default_generated_cert is not None:
                errors.append(
                    f"tls.stores.default.defaultGeneratedCert@{provider}: certificate resolvers are not supported"
                    " yet; the default certificate comes from the store"
                )
            chosen = store.default_certificate
            if chosen is not None:
                try:
                    default = load_certificate(chosen.cert_file, chosen.key_file)
                except CertificateError as exc:
                    errors.append(f"tls.stores.default.defaultCertificate@{provider}: {exc}")
    catalog = TLSCatalog(CertificateStore.of(certificates, default))
    catalog.errors = errors
    catalog.fingerprints = fingerprints
    for name, options in _merge_options(snapshots).items():
        try:
            catalog.options[name] = compile_options(name, options)
        except TLSOptionError as exc:
            catalog.broken[name] = f'TLS options "{name}": {exc}'
            errors.append(catalog.broken[name])
    if previous is not None:
        catalog.adopt(previous)
    return catalog
