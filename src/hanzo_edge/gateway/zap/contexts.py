"""The ZAP listener's TLS context: TLS 1.3 only, the hybrid post-quantum group X25519MLKEM768 preferred.

hanzoai/gateway's ``zap_listener.go`` sets ``MinVersion: TLS13`` and ``CurvePreferences: [X25519MLKEM768, X25519]``.
Here the groups are the linked OpenSSL's TLS 1.3 defaults (OpenSSL 4.x: X25519MLKEM768 first, then X25519, the NIST
curves and FFDHE); pyOpenSSL exposes no group setter in the versions we support, so when one appears
(``Context.set_groups``) it is used with Go's list plus the NIST curves. :func:`negotiates` runs one handshake in
memory at startup, so a build whose OpenSSL has no ML-KEM is reported instead of silently serving classic groups.
"""

from __future__ import annotations

import os

from OpenSSL import SSL, crypto

from hanzo_edge.gateway.zap.tls_engine import TlsEngine, TlsFailure

__all__ = [
    "PQ_GROUP",
    "PREFERRED_GROUPS",
    "CertificateError",
    "client_context",
    "negotiates",
    "openssl_version",
    "server_context",
]

PQ_GROUP = "X25519MLKEM768"
PREFERRED_GROUPS = ("X25519MLKEM768", "X25519", "P-256", "P-384")


class CertificateError(Exception):
    """The certificate or key cannot be used; the message names the file and why."""


def openssl_version() -> str:
    """The OpenSSL pyOpenSSL runs on (``OpenSSL 4.0.3 ...``)."""
    return SSL.OpenSSL_version(SSL.OPENSSL_VERSION).decode()


def _prefer_groups(context: SSL.Context) -> None:
    set_groups = getattr(context, "set_groups", None)
    if set_groups is not None:
        set_groups(list(PREFERRED_GROUPS))


def _read(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as exc:
        raise CertificateError(f"{what} {path}: {exc.strerror or exc}") from None


def server_context(cert_file: str, key_file: str) -> SSL.Context:
    """The listener's context with ``cert_file`` (PEM chain, leaf first) and ``key_file``. Raises CertificateError."""
    # Read first: an unreadable file is reported with the operating system's reason, not OpenSSL's queue.
    if b"-----BEGIN CERTIFICATE-----" not in _read(cert_file, "certificate"):
        raise CertificateError(f"certificate {cert_file}: no PEM certificate in the file")
    if b"PRIVATE KEY-----" not in _read(key_file, "key"):
        raise CertificateError(f"key {key_file}: no PEM private key in the file")
    context = SSL.Context(SSL.TLS_SERVER_METHOD)
    context.set_min_proto_version(SSL.TLS1_3_VERSION)
    # Stateless tickets only: no server-side session cache growing with every client.
    context.set_session_cache_mode(SSL.SESS_CACHE_OFF)
    _prefer_groups(context)
    try:
        context.use_certificate_chain_file(cert_file)
    except SSL.Error as exc:
        raise CertificateError(f"certificate {cert_file}: {_reason(exc)}") from None
    try:
        context.use_privatekey_file(key_file)
    except SSL.Error as exc:
        reason = _reason(exc)
        if "mismatch" in reason:
            raise CertificateError(f"key {key_file} does not match certificate {cert_file}") from None
        raise CertificateError(f"key {key_file}: {reason}") from None
    try:
        context.check_privatekey()
    except SSL.Error:
        raise CertificateError(f"key {key_file} does not match certificate {cert_file}") from None
    return context


def _reason(exc: SSL.Error) -> str:
    entries = exc.args[0] if exc.args and isinstance(exc.args[0], list) else []
    reasons = [str(entry[-1]) for entry in entries if isinstance(entry, tuple) and entry]
    return "; ".join(reasons) or "unusable"


def client_context(
    ca_file: str | None = None, *, verify: bool = True, tls12_only: bool = False, groups: str = ""
) -> SSL.Context:
    """A client context for the listener's callers (tests, benchmark): TLS 1.3 unless ``tls12_only``.

    ``ca_file`` is trusted when ``verify``; ``groups`` (``"X25519:P-256"``) needs a pyOpenSSL with a group setter.
    """
    context = SSL.Context(SSL.TLS_CLIENT_METHOD)
    if tls12_only:
        context.set_max_proto_version(SSL.TLS1_2_VERSION)
    else:
        context.set_min_proto_version(SSL.TLS1_3_VERSION)
    if groups:
        set_groups = getattr(context, "set_groups", None)
        if set_groups is None:
            raise CertificateError("this pyOpenSSL cannot choose client groups")
        set_groups(groups.split(":"))
    if verify:
        context.set_verify(SSL.VERIFY_PEER, _verify_ok)
        if ca_file:
            if not os.path.isfile(ca_file):
                raise CertificateError(f"CA {ca_file}: no such file")
            context.load_verify_locations(ca_file)
    return context


def _verify_ok(_conn: SSL.Connection, _cert: crypto.X509, _errno: int, _depth: int, ok: int) -> bool:
    return bool(ok)


def negotiates(context: SSL.Context) -> str | None:
    """The group a default TLS 1.3 client gets from ``context`` (one in-memory handshake), None if it fails."""
    server = TlsEngine.server(context)
    client = TlsEngine.client(client_context(verify=False))
    try:
        for _ in range(8):  # a TLS 1.3 handshake is two flights; a few more rounds carry tickets
            to_server = client.outgoing()
            if to_server:
                server.feed(to_server)
            to_client = server.outgoing()
            if to_client:
                client.feed(to_client)
            if client.handshake_done and server.handshake_done:
                return server.group
    except TlsFailure:
        return None
    return None
