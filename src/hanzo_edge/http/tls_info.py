"""What a TLS connection says about itself, in Traefik's words, read once per connection.

The contract between a TLS-terminating stage and the request pipeline: the application protocol reads
``transport.get_extra_info("ssl_object")`` when the connection is made and every request of that connection carries
the same :class:`TLSInfo` (``Request.tls_info``; None on a plain connection). The access log's ``TLSVersion``,
``TLSCipher`` and ``TLSClientSubject``, the ``tls_version``/``tls_cipher`` metric labels and ``passTLSClientCert``
(the client certificate's DER) read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hanzo_edge.tls.ciphers import go_name_of_openssl, go_version
from hanzo_edge.tls.subject import go_subject_string

__all__ = ["TLSInfo", "tls_info_of"]


@dataclass(frozen=True, slots=True)
class TLSInfo:
    """A TLS connection's version (``1.2``), cipher suite (Go's name) and verified client certificate, if any.

    ``client_cert`` is the leaf's DER (b"" without one): Python 3.11's ``ssl`` exposes no peer chain
    (``get_verified_chain`` is 3.13+), so Traefik's ``PeerCertificates`` is the leaf alone here.
    """

    version: str
    cipher: str
    client_subject: str = ""
    client_cert: bytes = b""


def tls_info_of(ssl_object: Any) -> TLSInfo:
    """Read an ``ssl.SSLObject``/``SSLSocket`` (anything with ``version()``, ``cipher()``, ``getpeercert()``)."""
    version = go_version(ssl_object.version())
    cipher = ssl_object.cipher()
    name = go_name_of_openssl(cipher[0]) if cipher else "unknown"
    peer = ssl_object.getpeercert()  # {} when no client certificate was verified
    if not peer:
        return TLSInfo(version, name)
    der = ssl_object.getpeercert(binary_form=True) or b""
    return TLSInfo(version, name, go_subject_string(peer.get("subject", ())), der)
