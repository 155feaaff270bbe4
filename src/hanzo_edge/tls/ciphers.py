"""Go's TLS cipher-suite names and OpenSSL's, in one table read both ways.

Traefik's configuration (``tls.options.<name>.cipherSuites``) and its output (the access log's ``TLSCipher``, the
``tls_cipher`` metric label) use Go's names (``pkg/tls/cipher.go``); Python's ``ssl`` speaks OpenSSL's. Every
Go suite Traefik accepts is listed once with its IANA code and OpenSSL name; Go's two short aliases of the
ChaCha20 suites are accepted in configuration and never printed (Go's ``CipherSuiteName`` prints the long form).
``TLS_FALLBACK_SCSV`` is a signalling value, not a suite: it has no OpenSSL cipher.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "GO_ALIASES",
    "SUITES",
    "TLS13_SUITES",
    "CipherSuite",
    "by_go_name",
    "go_name_of_openssl",
    "go_version",
    "openssl_name_of_go",
]


@dataclass(frozen=True, slots=True)
class CipherSuite:
    """One cipher suite: its Go name, IANA code and OpenSSL name ("" when OpenSSL has none)."""

    go: str
    code: int
    openssl: str
    tls13: bool = False


SUITES: tuple[CipherSuite, ...] = (
    CipherSuite("TLS_RSA_WITH_RC4_128_SHA", 0x0005, "RC4-SHA"),
    CipherSuite("TLS_RSA_WITH_3DES_EDE_CBC_SHA", 0x000A, "DES-CBC3-SHA"),
    CipherSuite("TLS_RSA_WITH_AES_128_CBC_SHA", 0x002F, "AES128-SHA"),
    CipherSuite("TLS_RSA_WITH_AES_256_CBC_SHA", 0x0035, "AES256-SHA"),
    CipherSuite("TLS_RSA_WITH_AES_128_CBC_SHA256", 0x003C, "AES128-SHA256"),
    CipherSuite("TLS_RSA_WITH_AES_128_GCM_SHA256", 0x009C, "AES128-GCM-SHA256"),
    CipherSuite("TLS_RSA_WITH_AES_256_GCM_SHA384", 0x009D, "AES256-GCM-SHA384"),
    CipherSuite("TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", 0xC007, "ECDHE-ECDSA-RC4-SHA"),
    CipherSuite("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", 0xC009, "ECDHE-ECDSA-AES128-SHA"),
    CipherSuite("TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", 0xC00A, "ECDHE-ECDSA-AES256-SHA"),
    CipherSuite("TLS_ECDHE_RSA_WITH_RC4_128_SHA", 0xC011, "ECDHE-RSA-RC4-SHA"),
    CipherSuite("TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", 0xC012, "ECDHE-RSA-DES-CBC3-SHA"),
    CipherSuite("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", 0xC013, "ECDHE-RSA-AES128-SHA"),
    CipherSuite("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", 0xC014, "ECDHE-RSA-AES256-SHA"),
    CipherSuite("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", 0xC023, "ECDHE-ECDSA-AES128-SHA256"),
    CipherSuite("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", 0xC027, "ECDHE-RSA-AES128-SHA256"),
    CipherSuite("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", 0xC02F, "ECDHE-RSA-AES128-GCM-SHA256"),
    CipherSuite("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", 0xC02B, "ECDHE-ECDSA-AES128-GCM-SHA256"),
    CipherSuite("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", 0xC030, "ECDHE-RSA-AES256-GCM-SHA384"),
    CipherSuite("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", 0xC02C, "ECDHE-ECDSA-AES256-GCM-SHA384"),
    CipherSuite("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", 0xCCA8, "ECDHE-RSA-CHACHA20-POLY1305"),
    CipherSuite("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", 0xCCA9, "ECDHE-ECDSA-CHACHA20-POLY1305"),
    # TLS 1.3: OpenSSL uses the IANA names; Python's ssl (OpenSSL 3.0) cannot choose among them (set_ciphers is
    # TLS 1.2 only), which is why they are marked.
    CipherSuite("TLS_AES_128_GCM_SHA256", 0x1301, "TLS_AES_128_GCM_SHA256", tls13=True),
    CipherSuite("TLS_AES_256_GCM_SHA384", 0x1302, "TLS_AES_256_GCM_SHA384", tls13=True),
    CipherSuite("TLS_CHACHA20_POLY1305_SHA256", 0x1303, "TLS_CHACHA20_POLY1305_SHA256", tls13=True),
    CipherSuite("TLS_FALLBACK_SCSV", 0x5600, ""),
)

GO_ALIASES: dict[str, str] = {
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305": "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305": "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
}
"""Go's short names for the ChaCha20 suites (accepted by Traefik's ``cipherSuites``) → the canonical name."""

TLS13_SUITES = frozenset(s.go for s in SUITES if s.tls13)

_BY_GO = {s.go: s for s in SUITES}
_BY_GO.update({alias: _BY_GO[canonical] for alias, canonical in GO_ALIASES.items()})
_GO_BY_OPENSSL = {s.openssl: s.go for s in SUITES if s.openssl}


def by_go_name(name: str) -> CipherSuite | None:
    """Return the suite Go calls ``name`` (aliases included), or None when Go has no such suite."""
    return _BY_GO.get(name)


def openssl_name_of_go(name: str) -> str:
    """Return OpenSSL's name of Go's suite ``name``; "" when unknown or when OpenSSL has none."""
    suite = _BY_GO.get(name)
    return "" if suite is None else suite.openssl


def go_name_of_openssl(name: str) -> str:
    """Return Go's name for the suite OpenSSL calls ``name`` (what Traefik prints).

    A suite Go does not implement (DHE, CCM, ARIA...) is ``unknown``, as Traefik's ``GetCipherName`` says.
    """
    return _GO_BY_OPENSSL.get(name, "unknown")


_VERSIONS = {"TLSv1": "1.0", "TLSv1.1": "1.1", "TLSv1.2": "1.2", "TLSv1.3": "1.3"}


def go_version(openssl_version: str | None) -> str:
    """Return Traefik's ``GetVersion`` text (``1.0``..``1.3``, else ``unknown``) for ``SSLObject.version()``."""
    return _VERSIONS.get(openssl_version or "", "unknown")
