"""``passTLSClientCert``: a client certificate's DER in → Traefik's ``X-Forwarded-Tls-Client-Cert(-Info)`` out.

The certificates are generated here with the shape of Traefik's ``pass_tls_client_cert_test.go`` fixtures (several
values for one attribute, domain components, every kind of SAN), and the expected strings are written out by hand
from Go's rules: DC first, then C, ST, L, O, OU, SN, CN; the last CN/SN only; SANs as DNS, e-mail, IP, URI.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import ipaddress
from typing import Any
from urllib.parse import unquote_plus

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hanzo_edge.config.dynamic import decode_dynamic
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.http.tls_info import TLSInfo
from hanzo_edge.middlewares.base import BuildContext, factory_for

NB = datetime.datetime(2018, 12, 6, 11, 10, 16, tzinfo=datetime.UTC)  # 1544094616
NA = datetime.datetime(2020, 12, 5, 11, 10, 16, tzinfo=datetime.UTC)  # 1607166616

ALL_SUBJECT = {
    "country": True,
    "province": True,
    "locality": True,
    "organization": True,
    "organizationalUnit": True,
    "commonName": True,
    "serialNumber": True,
    "domainComponent": True,
}
ALL_ISSUER = {k: v for k, v in ALL_SUBJECT.items() if k != "organizationalUnit"}
ALL_INFO = {
    "notAfter": True,
    "notBefore": True,
    "sans": True,
    "serialNumber": True,
    "subject": ALL_SUBJECT,
    "issuer": ALL_ISSUER,
}


def _name(*pairs: tuple[x509.ObjectIdentifier, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in pairs])


ISSUER = _name(
    (NameOID.DOMAIN_COMPONENT, "org"),
    (NameOID.DOMAIN_COMPONENT, "cheese"),
    (NameOID.ORGANIZATION_NAME, "Cheese"),
    (NameOID.ORGANIZATION_NAME, "Cheese 2"),
    (NameOID.ORGANIZATIONAL_UNIT_NAME, "Simple Signing Section"),
    (NameOID.COMMON_NAME, "Simple Signing CA"),
    (NameOID.COMMON_NAME, "Simple Signing CA 2"),
    (NameOID.COUNTRY_NAME, "FR"),
    (NameOID.COUNTRY_NAME, "US"),
    (NameOID.LOCALITY_NAME, "TOULOUSE"),
    (NameOID.LOCALITY_NAME, "LYON"),
    (NameOID.STATE_OR_PROVINCE_NAME, "Signing State"),
    (NameOID.STATE_OR_PROVINCE_NAME, "Signing State 2"),
    (NameOID.EMAIL_ADDRESS, "simple@signing.com"),
)
COMPLETE_SUBJECT = _name(
    (NameOID.DOMAIN_COMPONENT, "org"),
    (NameOID.DOMAIN_COMPONENT, "cheese"),
    (NameOID.ORGANIZATION_NAME, "Cheese"),
    (NameOID.ORGANIZATION_NAME, "Cheese 2"),
    (NameOID.ORGANIZATIONAL_UNIT_NAME, "Simple Signing Section"),
    (NameOID.ORGANIZATIONAL_UNIT_NAME, "Simple Signing Section 2"),
    (NameOID.COMMON_NAME, "*.cheese.org"),
    (NameOID.COMMON_NAME, "*.cheese.com"),
    (NameOID.SERIAL_NUMBER, "first"),
    (NameOID.SERIAL_NUMBER, "last"),
    (NameOID.COUNTRY_NAME, "FR"),
    (NameOID.COUNTRY_NAME, "US"),
    (NameOID.LOCALITY_NAME, "TOULOUSE"),
    (NameOID.LOCALITY_NAME, "LYON"),
    (NameOID.STATE_OR_PROVINCE_NAME, "Cheese org state"),
    (NameOID.STATE_OR_PROVINCE_NAME, "Cheese com state"),
    (NameOID.EMAIL_ADDRESS, "cert@cheese.org"),
)
COMPLETE_SANS = [
    x509.DNSName("*.cheese.org"),
    x509.IPAddress(ipaddress.ip_address("10.0.1.0")),
    x509.RFC822Name("test@cheese.org"),
    x509.DNSName("*.cheese.net"),
    x509.UniformResourceIdentifier("spiffe://cheese.org/client"),
    x509.IPAddress(ipaddress.ip_address("::ffff:10.0.1.2")),
    x509.IPAddress(ipaddress.ip_address("2001:db8::1")),
    x509.RFC822Name("test@cheese.net"),
]


def _cert(subject: x509.Name, serial: int, sans: list[x509.GeneralName] | None = None) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ISSUER)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(NB)
        .not_valid_after(NA)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


COMPLETE = _cert(COMPLETE_SUBJECT, 1, COMPLETE_SANS)
MINIMAL = _cert(
    _name(
        (NameOID.COUNTRY_NAME, "FR"),
        (NameOID.STATE_OR_PROVINCE_NAME, "Some-State"),
        (NameOID.ORGANIZATION_NAME, "Cheese"),
    ),
    481535886039632329873080491016862977516759989652,
)

COMPLETE_ALL_INFO = (
    'Subject="DC=org,DC=cheese,C=FR,C=US,ST=Cheese org state,ST=Cheese com state,L=TOULOUSE,L=LYON,'
    'O=Cheese,O=Cheese 2,OU=Simple Signing Section,OU=Simple Signing Section 2,SN=last,CN=*.cheese.com";'
    'Issuer="DC=org,DC=cheese,C=FR,C=US,ST=Signing State,ST=Signing State 2,L=TOULOUSE,L=LYON,'
    'O=Cheese,O=Cheese 2,CN=Simple Signing CA 2";'
    'SerialNumber="1";NB="1544094616";NA="1607166616";'
    'SAN="*.cheese.org,*.cheese.net,test@cheese.org,test@cheese.net,10.0.1.0,10.0.1.2,2001:db8::1,'
    'spiffe://cheese.org/client"'
)
MINIMAL_ALL_INFO = (
    'Subject="C=FR,ST=Some-State,O=Cheese";'
    'Issuer="DC=org,DC=cheese,C=FR,C=US,ST=Signing State,ST=Signing State 2,L=TOULOUSE,L=LYON,'
    'O=Cheese,O=Cheese 2,CN=Simple Signing CA 2";'
    'SerialNumber="481535886039632329873080491016862977516759989652";NB="1544094616";NA="1607166616"'
)


class Backend:
    def __init__(self) -> None:
        self.seen: list[Request] = []

    async def __call__(self, req: Request) -> Response:
        self.seen.append(req)
        return Response(200, Headers(), b"bar")


def _run(options: dict[str, Any], der: bytes | None, headers: list[tuple[bytes, bytes]] | None = None) -> Request:
    config, _ = decode_dynamic({"http": {"middlewares": {"m": {"passTLSClientCert": options}}}})
    factory = factory_for("passTLSClientCert")
    assert factory is not None
    backend = Backend()
    handler = factory(backend, config.http.middlewares["m"].config, name="m@file", ctx=BuildContext())
    req = Request("GET", "/foo", Headers([(b"Host", b"example.com"), *(headers or [])]), path="/foo")
    if der is not None:
        req.tls_info = TLSInfo("1.3", "TLS_AES_128_GCM_SHA256", "CN=x", der)
    response = asyncio.run(handler(req))  # type: ignore[arg-type]
    assert (response.status, response.body) == (200, b"bar")
    assert backend.seen == [req]
    assert "X-Forwarded-Tls-Client-Cert" not in response.headers
    return req


def _pem_body(der: bytes) -> str:
    """What Traefik sends: the PEM with its BEGIN/END lines and newlines removed."""
    pem = x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM).decode()
    return "".join(line for line in pem.splitlines() if not line.startswith("-----"))


def test_pem_is_the_leaf_without_armour_or_newlines_and_not_url_escaped() -> None:
    req = _run({"pem": True}, COMPLETE)
    value = req.headers.get("X-Forwarded-Tls-Client-Cert")
    assert value == _pem_body(COMPLETE)
    assert base64.b64decode(value or "") == COMPLETE
    assert "%" not in (value or "")  # Traefik >= 2.9.4 sends '+' and '/' as they are
    assert "X-Forwarded-Tls-Client-Cert-Info" not in req.headers


@pytest.mark.parametrize(
    ("options", "der"),
    [
        pytest.param({}, None, id="no-tls-no-option"),
        pytest.param({}, COMPLETE, id="tls-no-option"),
        pytest.param({"pem": True}, None, id="no-tls-pem"),
        pytest.param({"pem": True}, b"", id="tls-without-client-cert-pem"),
        pytest.param({"info": {"subject": {"commonName": True}}}, None, id="no-tls-info"),
        pytest.param({"pem": False, "info": {"subject": {}}}, None, id="no-tls-empty-subject"),
    ],
)
def test_nothing_is_added_without_a_client_certificate_or_option(options: dict[str, Any], der: bytes | None) -> None:
    req = _run(options, der)
    assert "X-Forwarded-Tls-Client-Cert" not in req.headers
    assert "X-Forwarded-Tls-Client-Cert-Info" not in req.headers


@pytest.mark.parametrize(
    ("der", "info", "expected"),
    [
        pytest.param(COMPLETE, ALL_INFO, COMPLETE_ALL_INFO, id="complete-all"),
        pytest.param(MINIMAL, ALL_INFO, MINIMAL_ALL_INFO, id="minimal-all"),
        pytest.param(
            MINIMAL,
            {"notAfter": True, "sans": True, "subject": {"organization": True}, "issuer": {"country": True}},
            'Subject="O=Cheese";Issuer="C=FR,C=US";NA="1607166616"',
            id="minimal-some",
        ),
        pytest.param(
            MINIMAL,
            {"notAfter": True, "subject": {"organization": True, "organizationalUnit": True}},
            'Subject="O=Cheese";NA="1607166616"',
            id="absent-ou-left-out",
        ),
        pytest.param(
            COMPLETE,
            {"subject": {"commonName": True, "serialNumber": True}, "issuer": {"domainComponent": True}},
            'Subject="SN=last,CN=*.cheese.com";Issuer="DC=org,DC=cheese"',
            id="last-cn-and-sn-win",
        ),
        pytest.param(COMPLETE, {"subject": {}}, "", id="empty-subject-is-an-empty-header"),
    ],
)
def test_info_fields_in_traefiks_order_and_url_escaped(der: bytes, info: dict[str, Any], expected: str) -> None:
    req = _run({"info": info}, der)
    value = req.headers.get("X-Forwarded-Tls-Client-Cert-Info")
    assert value is not None
    assert unquote_plus(value) == expected
    # url.QueryEscape: only [A-Za-z0-9-_.~] stay, a space becomes '+'.
    assert all(c.isalnum() or c in "-_.~%+" for c in value)


def test_info_escaping_is_go_query_escape() -> None:
    req = _run({"info": {"subject": {"commonName": True, "organization": True}}}, COMPLETE)
    assert req.headers.get("X-Forwarded-Tls-Client-Cert-Info") == (
        "Subject%3D%22O%3DCheese%2CO%3DCheese+2%2CCN%3D%2A.cheese.com%22"
    )


def test_client_sent_headers_are_replaced_with_the_connections_certificate() -> None:
    forged = [(b"X-Forwarded-Tls-Client-Cert", b"forged"), (b"X-Forwarded-Tls-Client-Cert-Info", b"forged")]
    req = _run({"pem": True, "info": {"serialNumber": True}}, MINIMAL, forged)
    assert req.headers.get_all("X-Forwarded-Tls-Client-Cert") == [_pem_body(MINIMAL)]
    assert req.headers.get_all("X-Forwarded-Tls-Client-Cert-Info") == [
        "SerialNumber%3D%22481535886039632329873080491016862977516759989652%22"
    ]
