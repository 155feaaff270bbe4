"""TLS models of the dynamic configuration (Traefik `pkg/tls`): certificates, options and stores.

Defaults are the model defaults; Traefik's implicit ``default`` options (``minVersion: VersionTLS12``) and the
generated default certificate are applied by whoever builds the TLS contexts, not here.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from hanzo_edge.config.types import FrozenDict, doc

__all__ = [
    "CertAndStores",
    "ClientAuth",
    "GeneratedCert",
    "StoreCertificate",
    "TLSConfiguration",
    "TLSDomain",
    "TLSOptions",
    "TLSStore",
]


class _Model(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Base of the TLS models: frozen, keyword-only, camelCase wire names."""


class TLSDomain(_Model, frozen=True, kw_only=True):
    """A certificate domain: main name and subject alternative names."""

    main: str = ""
    sans: tuple[str, ...] = ()


class CertAndStores(_Model, frozen=True, kw_only=True):
    """`tls.certificates[]`: a certificate (path or inline PEM) and the stores it goes to."""

    cert_file: str = ""
    key_file: str = ""
    stores: Annotated[tuple[str, ...], doc("Stores to add the certificate to; empty means [default].")] = ()


class ClientAuth(_Model, frozen=True, kw_only=True):
    """Client certificate authentication (mTLS)."""

    ca_files: tuple[str, ...] = ()
    client_auth_type: Annotated[
        str, doc("NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven or ...")
    ] = ""


class TLSOptions(_Model, frozen=True, kw_only=True):
    """`tls.options.<name>`: protocol versions, ciphers, curves, client auth, ALPN."""

    min_version: Annotated[str, doc("VersionTLS10..VersionTLS13; empty: TLS 1.2 for the default options.")] = ""
    max_version: str = ""
    cipher_suites: tuple[str, ...] = ()
    curve_preferences: tuple[str, ...] = ()
    client_auth: ClientAuth | None = None
    sni_strict: bool = False
    alpn_protocols: tuple[str, ...] = ("h2", "http/1.1", "acme-tls/1")
    disable_session_tickets: bool = False
    prefer_server_cipher_suites: Annotated[bool | None, doc("(Deprecated) Ignored.")] = None


class StoreCertificate(_Model, frozen=True, kw_only=True):
    """A store's default certificate."""

    cert_file: str = ""
    key_file: str = ""


class GeneratedCert(_Model, frozen=True, kw_only=True):
    """A default certificate obtained from a resolver."""

    resolver: str = ""
    domain: TLSDomain | None = None


class TLSStore(_Model, frozen=True, kw_only=True):
    """`tls.stores.<name>` (only ``default`` is used)."""

    default_certificate: StoreCertificate | None = None
    default_generated_cert: GeneratedCert | None = None


class TLSConfiguration(_Model, frozen=True, kw_only=True):
    """The ``tls`` section."""

    certificates: tuple[CertAndStores, ...] = ()
    options: FrozenDict[str, TLSOptions] = msgspec.field(default_factory=FrozenDict)
    stores: FrozenDict[str, TLSStore] = msgspec.field(default_factory=FrozenDict)
