"""``tls.options.<name>`` → the settings of a server ``ssl.SSLContext``, or an error naming the option.

Python's ``ssl`` on OpenSSL 3.0 cannot express a TLS 1.3 cipher-suite list, several curves or a client certificate
requested without verification. Such options are refused (:class:`TLSOptionError` naming the option), never accepted
and ignored: the option is then broken and the routers using it are disabled with that error. One exception is
literally a no-op and accepted: the three TLS 1.3 suites all together (HIP-68's seed lists them), which is exactly
the set OpenSSL enables by default; Go ignores TLS 1.3 entries in ``cipherSuites`` too.
"""

from __future__ import annotations

import ssl
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from hanzo_edge.config.tls import TLSOptions
from hanzo_edge.tls.ciphers import TLS13_SUITES, by_go_name

__all__ = [
    "CURVES",
    "SERVED_ALPN",
    "VERSIONS",
    "ServerContext",
    "TLSOptionError",
    "TLSSettings",
    "compile_options",
]

VERSIONS: dict[str, ssl.TLSVersion] = {
    "VersionTLS10": ssl.TLSVersion.TLSv1,
    "VersionTLS11": ssl.TLSVersion.TLSv1_1,
    "VersionTLS12": ssl.TLSVersion.TLSv1_2,
    "VersionTLS13": ssl.TLSVersion.TLSv1_3,
}

CURVES: dict[str, str] = {
    "CurveP256": "prime256v1",
    "secp256r1": "prime256v1",
    "CurveP384": "secp384r1",
    "secp384r1": "secp384r1",
    "CurveP521": "secp521r1",
    "secp521r1": "secp521r1",
    "X25519": "X25519",
    "x25519": "X25519",
}
"""Go's curve names (and the aliases Traefik accepts) → OpenSSL's group names."""

SERVED_ALPN: tuple[str, ...] = ("h2", "http/1.1")
"""The ALPN ids this process serves over TLS (``acme-tls/1`` is not: ACME is not implemented, so never offered)."""

_CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
_CLIENT_AUTH_REFUSED = {"RequestClientCert", "RequireAnyClientCert"}


class TLSOptionError(ValueError):
    """A TLS option that is invalid or that this TLS engine cannot honour; the message names the option."""


class ServerContext(ssl.SSLContext):
    """A server context that remembers the TLS options it was made from (read by the HTTP protocol)."""

    tls_options_name: str = "default"


@dataclass(frozen=True, slots=True)
class TLSSettings:
    """One validated ``tls.options`` entry, ready to make contexts (one per certificate)."""

    name: str
    min_version: ssl.TLSVersion
    max_version: ssl.TLSVersion
    ciphers: str
    """OpenSSL cipher string for TLS ≤ 1.2 ("" keeps OpenSSL's defaults)."""
    curve: str
    verify_mode: ssl.VerifyMode
    ca_files: tuple[str, ...]  # the CAs as PEM text (read and checked at compile time)
    sni_strict: bool
    alpn: tuple[str, ...]
    server_preference: bool
    no_tickets: bool

    def context(self, cert_path: str, key_path: str) -> ServerContext:
        """Return a new server context with these settings and this certificate."""
        ctx = ServerContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.tls_options_name = self.name
        ctx.minimum_version = self.min_version
        ctx.maximum_version = self.max_version
        if self.ciphers:
            ctx.set_ciphers(self.ciphers)
        if self.curve:
            ctx.set_ecdh_curve(self.curve)
        if self.server_preference:
            ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
        else:
            ctx.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
        if self.no_tickets:
            ctx.options |= ssl.OP_NO_TICKET
            # Under OP_NO_TICKET OpenSSL still sends TLS 1.3 clients stateful tickets (server session-cache entries):
            # send none, as Go sends none under this option.
            ctx.num_tickets = 0
        ctx.load_cert_chain(cert_path, key_path)
        for ca in self.ca_files:  # PEM text read and checked when the options were compiled
            ctx.load_verify_locations(cadata=ca)
        ctx.verify_mode = self.verify_mode
        if self.alpn:
            ctx.set_alpn_protocols(list(self.alpn))
        return ctx


def _version(name: str, field: str, default: ssl.TLSVersion) -> ssl.TLSVersion:
    if not name:
        return default
    version = VERSIONS.get(name)
    if version is None:
        raise TLSOptionError(f"{field}: unknown TLS version {name!r} (VersionTLS10..VersionTLS13)")
    return version


def _ciphers(names: tuple[str, ...]) -> str:
    tls12: list[str] = []
    tls13: set[str] = set()
    for name in names:
        suite = by_go_name(name)
        if suite is None:
            raise TLSOptionError(f"cipherSuites: unknown cipher suite {name!r}")
        if suite.tls13:
            tls13.add(suite.go)
            continue
        if not suite.openssl or not _available(suite.openssl):
            raise TLSOptionError(f"cipherSuites: {name} is not available in this OpenSSL")
        tls12.append(suite.openssl)
    if tls13 and tls13 != TLS13_SUITES:
        # OpenSSL enables all three TLS 1.3 suites and Python's ssl cannot restrict them: listing only some would
        # be accepted and ignored.
        raise TLSOptionError(
            "cipherSuites: a subset of the TLS 1.3 suites cannot be enforced (Python's ssl on OpenSSL 3.0 always"
            f" offers {', '.join(sorted(TLS13_SUITES))}); list all three or none"
        )
    if names and not tls12:
        return ""  # only TLS 1.3 names, all of them: OpenSSL's TLS 1.3 defaults, TLS 1.2 suites untouched as in Go
    return ":".join(tls12)


_AVAILABLE: dict[str, bool] = {}


def _available(openssl_name: str) -> bool:
    known = _AVAILABLE.get(openssl_name)
    if known is None:
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).set_ciphers(openssl_name)
            known = True
        except ssl.SSLError:
            known = False
        _AVAILABLE[openssl_name] = known
    return known


def _curve(names: tuple[str, ...]) -> str:
    if not names:
        return ""
    if len(names) > 1:
        raise TLSOptionError(
            "curvePreferences: several curves cannot be set (Python's ssl on OpenSSL 3.0 takes one); list one curve"
        )
    curve = CURVES.get(names[0])
    if curve is None:
        raise TLSOptionError(f"curvePreferences: unsupported curve {names[0]!r}")
    return curve


def _checked_ca(ca: str) -> str:
    """Return the PEM text of a ``clientAuth.caFiles`` entry (a path or inline PEM), refused unless OpenSSL loads it.

    Read and checked once per build, so a handshake never reads the disk and a bad file disables its options at load.
    """
    try:
        text = ca if ca.lstrip().startswith("-----BEGIN") else Path(ca).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise TLSOptionError(f"clientAuth.caFiles: cannot read {ca!r}: {exc}") from None
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_verify_locations(cadata=text)
    except (ssl.SSLError, ValueError):
        raise TLSOptionError(f"clientAuth.caFiles: {ca!r} holds no PEM certificate") from None
    return text


def compile_options(name: str, options: TLSOptions, served_alpn: Collection[str] = SERVED_ALPN) -> TLSSettings:
    """Validate ``options`` (named ``name``) into :class:`TLSSettings`; raise TLSOptionError naming the option."""
    min_version = _version(options.min_version, "minVersion", ssl.TLSVersion.TLSv1_2)
    max_version = _version(options.max_version, "maxVersion", ssl.TLSVersion.MAXIMUM_SUPPORTED)
    if options.max_version and min_version > max_version:
        raise TLSOptionError(f"minVersion {options.min_version} is above maxVersion {options.max_version}")
    ciphers = _ciphers(options.cipher_suites)
    if min_version < ssl.TLSVersion.TLSv1_2:
        # OpenSSL 3.0 serves TLS 1.0/1.1 only at security level 0 (their handshakes sign with SHA-1).
        ciphers = (ciphers or "DEFAULT") + ":@SECLEVEL=0"
    curve = _curve(options.curve_preferences)
    verify_mode = ssl.CERT_NONE
    ca_files: tuple[str, ...] = ()
    auth = options.client_auth
    if auth is not None:
        auth_type = auth.client_auth_type or ("RequireAndVerifyClientCert" if auth.ca_files else "NoClientCert")
        if auth_type in _CLIENT_AUTH_REFUSED:
            raise TLSOptionError(
                f"clientAuth.clientAuthType {auth_type} is not supported (Python's ssl cannot request a client"
                " certificate without verifying it); use VerifyClientCertIfGiven or RequireAndVerifyClientCert"
            )
        if auth_type not in _CLIENT_AUTH:
            raise TLSOptionError(f"clientAuth.clientAuthType: unknown type {auth_type!r}")
        verify_mode = _CLIENT_AUTH[auth_type]
        if verify_mode != ssl.CERT_NONE:
            if not auth.ca_files:
                raise TLSOptionError(f"clientAuth.caFiles: {auth_type} needs at least one CA file")
            ca_files = tuple(_checked_ca(ca) for ca in auth.ca_files)
    alpn = tuple(proto for proto in options.alpn_protocols if proto in served_alpn)
    if options.alpn_protocols and not alpn:
        raise TLSOptionError(
            f"alpnProtocols: none of {', '.join(options.alpn_protocols)} is served (served: {', '.join(served_alpn)})"
        )
    prefer = options.prefer_server_cipher_suites
    return TLSSettings(
        name=name,
        min_version=min_version,
        max_version=max_version,
        ciphers=ciphers,
        curve=curve,
        verify_mode=verify_mode,
        ca_files=ca_files,
        sni_strict=options.sni_strict,
        alpn=alpn,
        server_preference=True if prefer is None else prefer,
        no_tickets=options.disable_session_tickets,
    )
