"""``passTLSClientCert``: the verified client certificate in ``X-Forwarded-Tls-Client-Cert(-Info)`` (Traefik's format).

The certificate is the connection's (``Request.tls_info.client_cert``, read once per TLS connection). Python 3.11's
``ssl`` gives the leaf only, so where Traefik sends the client's whole chain this sends the leaf. A request without
a client certificate gets neither header; a client-sent ``X-Forwarded-Tls-Client-Cert*`` never gets this far (the
entrypoint removes those managed headers), so a backend can trust what it sees.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable

from hanzo_edge.config.middlewares import PassTLSClientCert as PassTLSClientCertConfig
from hanzo_edge.config.middlewares import TLSClientCertInfo, TLSClientCertIssuerInfo, TLSClientCertSubjectInfo
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.middlewares._client_cert_info import DNFields, InfoFields, cert_info, pem_value
from hanzo_edge.middlewares.base import BuildContext, register

__all__ = ["PassTLSClientCert"]

log = logging.getLogger("hanzo_edge.middlewares.pass_tls_client_cert")

CERT_HEADER = "X-Forwarded-Tls-Client-Cert"
INFO_HEADER = "X-Forwarded-Tls-Client-Cert-Info"


def _dn_fields(
    config: TLSClientCertSubjectInfo | TLSClientCertIssuerInfo | None, organizational_unit: bool = False
) -> DNFields | None:
    # The issuer has no organizationalUnit option in Traefik; the subject passes its own.
    if config is None:
        return None
    return DNFields(
        country=config.country,
        province=config.province,
        locality=config.locality,
        organization=config.organization,
        organizational_unit=organizational_unit,
        serial_number=config.serial_number,
        common_name=config.common_name,
        domain_component=config.domain_component,
    )


def _info_fields(config: TLSClientCertInfo | None) -> InfoFields | None:
    if config is None:
        return None
    return InfoFields(
        not_after=config.not_after,
        not_before=config.not_before,
        sans=config.sans,
        serial_number=config.serial_number,
        subject=_dn_fields(config.subject, config.subject is not None and config.subject.organizational_unit),
        issuer=_dn_fields(config.issuer),
    )


@register("passTLSClientCert")
class PassTLSClientCert:
    """Adds the client certificate's PEM and/or selected fields as request headers on mTLS connections."""

    __slots__ = ("_last", "info", "name", "next", "pem")

    def __init__(self, next: Handler, config: PassTLSClientCertConfig, *, name: str, ctx: BuildContext) -> None:
        self.next = next
        self.name = name
        self.pem = config.pem
        self.info = _info_fields(config.info)
        # The headers of the last certificate seen: a keep-alive connection's requests share one DER object,
        # so it is parsed once per connection rather than once per request.
        self._last: tuple[bytes, str, str | None] | None = None

    def __call__(self, req: Request) -> Awaitable[Response]:
        if self.pem or self.info is not None:
            tls = req.tls_info
            der = tls.client_cert if tls is not None else b""
            if der:
                pem, info = self._headers_for(der)
                if pem:
                    req.headers.set(CERT_HEADER, pem)
                if info is not None:
                    req.headers.set(INFO_HEADER, info)
            else:
                log.debug("%s: tried to extract a certificate on a request without mutual TLS", self.name)
        return self.next(req)

    def _headers_for(self, der: bytes) -> tuple[str, str | None]:
        last = self._last
        if last is not None and (last[0] is der or last[0] == der):
            return last[1], last[2]
        pem = pem_value((der,)) if self.pem else ""
        info: str | None = None
        if self.info is not None:
            try:
                info = cert_info((der,), self.info)
            except ValueError as exc:  # OpenSSL verified it, so this is a certificate cryptography cannot read
                log.debug("%s: cannot read the client certificate: %s", self.name, exc)
        self._last = (der, pem, info)
        return pem, info
