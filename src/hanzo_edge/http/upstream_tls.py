"""TLS to backends: one client ``ssl`` context per servers transport, and Go's words for what goes wrong.

Traefik (``pkg/server/service/transport.go``) verifies ``https://`` servers against the system roots unless
``rootCAs`` is set, in which case only those roots are trusted; ``insecureSkipVerify`` turns verification off,
``serverName`` is both the SNI and the name checked, ``certificates`` are client certificates for mTLS, and
``peerCertURI`` requires the server certificate to carry that URI SAN. Go still verifies the chain for
``peerCertURI`` even with ``insecureSkipVerify`` (``VerifyPeerCertificate`` runs ``verifyChain``), so does this.

A context is built once per transport options (cached), because building one (loading roots) costs milliseconds and
the pool dials with it for every new connection.
"""

from __future__ import annotations

import functools
import os
import ssl
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["ClientTLS", "TLSConfigError", "client_context", "peer_cert_uri_error", "verify_error_text"]

_PEM_MARK = "-----BEGIN"


class TLSConfigError(Exception):
    """A servers transport's TLS material could not be loaded (unreadable file, bad PEM, key mismatch)."""


@dataclass(frozen=True, slots=True)
class ClientTLS:
    """The TLS part of a servers transport: what the client context is built from (hashable, so it is a cache key)."""

    insecure_skip_verify: bool = False
    root_cas: tuple[str, ...] = ()
    certificates: tuple[tuple[str, str], ...] = ()
    verify_chain: bool = False  # peerCertURI: verify the chain even when insecureSkipVerify is set
    alpn: tuple[str, ...] = ("http/1.1",)  # ("h2", "http/1.1") where HTTP/2 to https servers is allowed


@functools.lru_cache(maxsize=256)
def client_context(tls: ClientTLS) -> ssl.SSLContext:
    """Return the client context for ``tls`` (built once). Raises :class:`TLSConfigError` on unusable material."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # Traefik's HTTP/1.1 transport offers http/1.1 only; its HTTP/2-capable one (unless disableHTTP2) h2 first.
    ctx.set_alpn_protocols(list(tls.alpn))
    try:
        if tls.root_cas:
            for entry in tls.root_cas:
                if entry.lstrip().startswith(_PEM_MARK):
                    ctx.load_verify_locations(cadata=entry)
                else:
                    ctx.load_verify_locations(cafile=entry)
        else:
            ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
        for cert, key in tls.certificates:
            _load_client_certificate(ctx, cert, key)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise TLSConfigError(str(exc)) from None
    if tls.insecure_skip_verify or tls.verify_chain:
        # peerCertURI: Traefik sets InsecureSkipVerify and verifies the chain and the URI SAN itself, no host name.
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_REQUIRED if tls.verify_chain else ssl.CERT_NONE
    return ctx


def _load_client_certificate(ctx: ssl.SSLContext, cert: str, key: str) -> None:
    """Load a client certificate given as paths or inline PEM (``ssl`` only reads files: inline PEM goes through a
    private temporary file that is removed at once)."""
    if not (cert.lstrip().startswith(_PEM_MARK) or key.lstrip().startswith(_PEM_MARK)):
        ctx.load_cert_chain(cert, key)
        return
    with tempfile.TemporaryDirectory(prefix="hanzo-edge-tls-") as tmp:
        cert_path = _material_file(tmp, "cert.pem", cert)
        key_path = _material_file(tmp, "key.pem", key)
        ctx.load_cert_chain(cert_path, key_path)


def _material_file(directory: str, name: str, value: str) -> str:
    if not value.lstrip().startswith(_PEM_MARK):
        return value
    path = os.path.join(directory, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(value)
    return path


def verify_error_text(exc: ssl.SSLError, server_name: str) -> str:
    """Return Go's error text for a failed handshake (what Traefik logs with its 502)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        code = exc.verify_code
        if code in (2, 18, 19, 20, 21):  # unknown issuer, self-signed, untrusted chain
            reason = "x509: certificate signed by unknown authority"
        elif code == 10:
            reason = "x509: certificate has expired or is not yet valid"
        elif code == 62:
            reason = f"x509: certificate is not valid for {server_name}"
        else:
            reason = f"x509: {exc.verify_message}"
        return f"tls: failed to verify certificate: {reason}"
    reason = exc.reason or ""
    if "ALERT_" in reason:  # the server refused us (e.g. our client certificate): Go's "remote error: tls: <alert>"
        return "remote error: tls: " + reason.split("ALERT_", 1)[1].lower().replace("_", " ")
    return f"tls: {reason.lower().replace('_', ' ') or exc}"


def peer_cert_uri_error(peer_cert: dict[str, object] | None, uri: str) -> str:
    """Return "" when the server certificate has the URI SAN ``uri``, else Go's ``verifyServerCertMatchesURI`` error."""
    sans = peer_cert.get("subjectAltName", ()) if peer_cert else ()
    uris = [value for kind, value in _pairs(sans) if kind == "URI"]
    if uri in uris:
        return ""
    return f"peer certificate mismatch: no SAN URI in peer certificate matches {uri}"


def _pairs(value: object) -> Sequence[tuple[str, str]]:
    if isinstance(value, tuple):
        return [(str(p[0]), str(p[1])) for p in value if isinstance(p, tuple) and len(p) == 2]
    return []
