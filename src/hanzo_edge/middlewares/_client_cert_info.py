"""The values ``passTLSClientCert`` puts in ``X-Forwarded-Tls-Client-Cert(-Info)``, in Traefik's exact format.

Traefik reads Go's parsed ``x509.Certificate``; this reads the DER with ``cryptography`` and rebuilds the same view:

* the PEM header is the certificate's base64 on one line (Go's PEM body without BEGIN/END lines and newlines), not
  URL-escaped (Traefik stopped escaping it in v2.9.4, traefik/traefik#9412); several certificates join with ``,``;
* the info header is ``url.QueryEscape`` of ``Subject="...";Issuer="...";SerialNumber="...";NB="...";NA="...";
  SAN="..."`` with empty parts left out. A distinguished name lists ``DC`` (every one, in certificate order),
  then ``C``, ``ST``, ``L``, ``O`` (each value in order), ``OU`` (subject only), ``SN`` and ``CN`` (Go's
  ``pkix.Name`` keeps only the *last* serial number and common name), comma-separated.
"""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote_plus

if TYPE_CHECKING:
    from cryptography import x509

__all__ = ["DNFields", "InfoFields", "cert_info", "pem_value"]

# Attribute OIDs as dotted strings: ``cryptography`` (10 MiB resident) is imported only when a certificate is read.
_DOMAIN_COMPONENT = "0.9.2342.19200300.100.1.25"
# Go's pkix.Name fields filled from 2.5.4.x attributes, as FillFromRDNSequence does.
_MULTI = {"2.5.4.6": "C", "2.5.4.8": "ST", "2.5.4.7": "L", "2.5.4.10": "O", "2.5.4.11": "OU"}
_SINGLE = {"2.5.4.5": "SN", "2.5.4.3": "CN"}
_ORDER = ("C", "ST", "L", "O", "OU", "SN", "CN")


@dataclass(frozen=True, slots=True)
class DNFields:
    """Which parts of a distinguished name to print (``organizational_unit`` is always False for the issuer)."""

    country: bool = False
    province: bool = False
    locality: bool = False
    organization: bool = False
    organizational_unit: bool = False
    serial_number: bool = False
    common_name: bool = False
    domain_component: bool = False

    def wanted(self) -> frozenset[str]:
        flags = {
            "C": self.country,
            "ST": self.province,
            "L": self.locality,
            "O": self.organization,
            "OU": self.organizational_unit,
            "SN": self.serial_number,
            "CN": self.common_name,
        }
        return frozenset(short for short, on in flags.items() if on)


@dataclass(frozen=True, slots=True)
class InfoFields:
    """The ``info`` block of the middleware's configuration."""

    not_after: bool = False
    not_before: bool = False
    sans: bool = False
    serial_number: bool = False
    subject: DNFields | None = None
    issuer: DNFields | None = None


def pem_value(ders: Iterable[bytes]) -> str:
    """``X-Forwarded-Tls-Client-Cert``: each certificate's PEM body on one line, joined with ``,``."""
    return ",".join(base64.b64encode(der).decode("ascii") for der in ders)


def cert_info(ders: Iterable[bytes], fields: InfoFields) -> str:
    """``X-Forwarded-Tls-Client-Cert-Info`` (already URL-escaped); raises ValueError on a DER it cannot parse."""
    from cryptography.x509 import load_der_x509_certificate

    return quote_plus(",".join(_one_cert(load_der_x509_certificate(der), fields) for der in ders), safe="")


def _one_cert(cert: x509.Certificate, fields: InfoFields) -> str:
    values: list[str] = []
    subject = _dn(cert.subject, fields.subject)
    if subject:
        values.append(f'Subject="{subject}"')
    issuer = _dn(cert.issuer, fields.issuer)
    if issuer:
        values.append(f'Issuer="{issuer}"')
    if fields.serial_number:
        values.append(f'SerialNumber="{cert.serial_number}"')
    # Go prints uint64(t.Unix()): a date before 1970 wraps around.
    if fields.not_before:
        values.append(f'NB="{int(cert.not_valid_before_utc.timestamp()) % 2**64}"')
    if fields.not_after:
        values.append(f'NA="{int(cert.not_valid_after_utc.timestamp()) % 2**64}"')
    if fields.sans:
        sans = _sans(cert)
        if sans:
            values.append(f'SAN="{",".join(sans)}"')
    return ";".join(values)


def _dn(name: x509.Name, fields: DNFields | None) -> str:
    if fields is None:
        return ""
    wanted = fields.wanted()
    parts: list[str] = []
    multi: dict[str, list[str]] = {}
    single: dict[str, str] = {}
    for rdn in name.rdns:
        for attr in rdn:
            value = attr.value
            if not isinstance(value, str):
                continue  # Go's pkix.Name skips non-string attribute values
            oid = attr.oid.dotted_string
            if oid == _DOMAIN_COMPONENT:
                if fields.domain_component:
                    parts.append(f"DC={value}")
            elif oid in _MULTI:
                multi.setdefault(_MULTI[oid], []).append(value)
            elif oid in _SINGLE:
                single[_SINGLE[oid]] = value  # the last one wins, as in Go
    for short in _ORDER:
        if short not in wanted:
            continue
        found = [single[short]] if short in single else multi.get(short, [])
        parts.extend(f"{short}={value}" for value in found if value)
    return ",".join(parts)


def _sans(cert: x509.Certificate) -> list[str]:
    """DNS names, e-mail addresses, IP addresses, URIs: Go's order."""
    from cryptography import x509

    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    sans: list[str] = [*ext.get_values_for_type(x509.DNSName), *ext.get_values_for_type(x509.RFC822Name)]
    sans.extend(_go_ip(ip) for ip in ext.get_values_for_type(x509.IPAddress))
    sans.extend(ext.get_values_for_type(x509.UniformResourceIdentifier))
    return sans


def _go_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address | ipaddress.IPv4Network | ipaddress.IPv6Network) -> str:
    # Go's net.IP.String() prints an IPv4-mapped IPv6 address in dotted form.
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)
