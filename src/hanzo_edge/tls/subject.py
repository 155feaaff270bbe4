"""A certificate subject as Go's ``pkix.Name.String()`` prints it (Traefik's ``TLSClientSubject``).

Go prints the attributes it knows in a fixed order, most specific first (``SERIALNUMBER, CN, OU, O, POSTALCODE,
STREET, L, ST, C``), several values of one attribute as one ``+``-joined RDN, RFC 2253 escaping; other attributes
come last as ``<oid>=#<hex of their DER>``. The input is what ``ssl.SSLSocket.getpeercert()`` returns: RDNs of
``(OpenSSL long name, value)`` pairs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["go_subject_string"]

# OpenSSL long name → Go's short name, in the order of Go's ToRDNSequence (printed reversed).
_KNOWN: tuple[tuple[str, str], ...] = (
    ("countryName", "C"),
    ("stateOrProvinceName", "ST"),
    ("localityName", "L"),
    ("streetAddress", "STREET"),
    ("postalCode", "POSTALCODE"),
    ("organizationName", "O"),
    ("organizationalUnitName", "OU"),
    ("commonName", "CN"),
    ("serialNumber", "SERIALNUMBER"),
)
_KNOWN_NAMES = dict(_KNOWN)

# The OIDs of other attributes OpenSSL names in getpeercert(), for Go's "<oid>=#<hex>" form.
_OTHER_OIDS = {
    "emailAddress": "1.2.840.113549.1.9.1",
    "domainComponent": "0.9.2342.19200300.100.1.25",
    "userId": "0.9.2342.19200300.100.1.1",
    "title": "2.5.4.12",
    "surname": "2.5.4.4",
    "givenName": "2.5.4.42",
    "initials": "2.5.4.43",
    "generationQualifier": "2.5.4.44",
    "dnQualifier": "2.5.4.46",
    "pseudonym": "2.5.4.65",
    "businessCategory": "2.5.4.15",
    "jurisdictionCountryName": "1.3.6.1.4.1.311.60.2.1.3",
    "organizationIdentifier": "2.5.4.97",
}

_PRINTABLE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?*&")


def go_subject_string(subject: Iterable[Sequence[tuple[str, str]]]) -> str:
    """Return Go's ``Subject.String()`` for a ``getpeercert()`` subject."""
    known: dict[str, list[str]] = {}
    others: list[str] = []
    for rdn in subject:
        for name, value in rdn:
            if name in _KNOWN_NAMES:
                known.setdefault(name, []).append(value)
            else:
                others.append(_other(name, value))
    rdns = list(others)  # Go puts them first in the sequence, so they print last
    for name, short in _KNOWN:
        values = known.get(name)
        if values:
            rdns.append("+".join(f"{short}={_escape(v)}" for v in values))
    return ",".join(reversed(rdns))


def _other(name: str, value: str) -> str:
    oid = _OTHER_OIDS.get(name)
    if oid is None:
        return f"{name}={_escape(value)}"
    data = value.encode("utf-8")
    # Go's asn1.Marshal of a string: PrintableString when every character allows it, else UTF8String.
    tag = 0x13 if all(c in _PRINTABLE for c in value) else 0x0C
    return f"{oid}=#{_der_header(tag, len(data)).hex()}{data.hex()}"


def _der_header(tag: int, length: int) -> bytes:
    if length < 0x80:
        return bytes((tag, length))
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(size))) + size


def _escape(value: str) -> str:
    out = []
    last = len(value) - 1
    for i, c in enumerate(value):
        if c in ',+"\\<>;' or (c == " " and i in (0, last)) or (c == "#" and i == 0):
            out.append("\\")
        out.append(c)
    return "".join(out)
