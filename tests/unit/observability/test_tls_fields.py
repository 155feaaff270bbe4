"""TLS facts of a connection in Traefik's words: version, Go cipher name, Go's subject string; the access log."""

from __future__ import annotations

import asyncio
import io
import ssl

import orjson
import pytest
import trustme

from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request
from hanzo_edge.http.tls_info import TLSInfo, tls_info_of
from hanzo_edge.observability.accesslog import AccessLog
from hanzo_edge.tls.subject import go_subject_string


def _handshake(maximum: ssl.TLSVersion, client_cert: bool) -> ssl.SSLObject:
    """A real handshake over memory BIOs; return the server side's SSLObject."""
    ca = trustme.CA()
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("edge.test").configure_cert(server_ctx)
    server_ctx.maximum_version = maximum
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ca.configure_trust(client_ctx)
    if client_cert:
        ca.configure_trust(server_ctx)
        server_ctx.verify_mode = ssl.CERT_REQUIRED
        ca.issue_cert("client@edge.test", common_name="edge, client", organization_name="Hanzo").configure_cert(
            client_ctx
        )
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname="edge.test")
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(10):
        done = 0
        for side in (client, server):
            try:
                side.do_handshake()
                done += 1
            except ssl.SSLWantReadError:
                pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if done == 2:
            # TLS 1.3 client certificates arrive after the client finished: one more read on the server side
            try:
                server.read(1)
            except ssl.SSLWantReadError:
                pass
            return server
    raise AssertionError("handshake did not finish")


def test_tls13_connection_with_a_client_certificate() -> None:
    info = tls_info_of(_handshake(ssl.TLSVersion.TLSv1_3, client_cert=True))
    assert info.version == "1.3"
    assert info.cipher in {"TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256"}
    # Go's Subject.String(): most specific first (trustme adds an OU), RFC 2253 escaping of the comma in the CN
    assert info.client_subject.startswith("CN=edge\\, client,OU=Testing cert #")
    assert info.client_subject.endswith(",O=Hanzo")


def test_tls12_cipher_is_go_name_and_no_client_certificate_means_no_subject() -> None:
    info = tls_info_of(_handshake(ssl.TLSVersion.TLSv1_2, client_cert=False))
    assert info.version == "1.2"
    assert info.cipher.startswith("TLS_ECDHE_RSA_WITH_") or info.cipher.startswith("TLS_ECDHE_ECDSA_WITH_")
    assert info.client_subject == ""


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        (((("countryName", "US"),), (("organizationName", "Acme"),), (("commonName", "a"),)), "CN=a,O=Acme,C=US"),
        # several values of one attribute: one RDN joined with +; order as Go's ToRDNSequence, reversed
        (
            ((("organizationalUnitName", "x"),), (("organizationalUnitName", "y"),), (("serialNumber", "7"),)),
            "SERIALNUMBER=7,OU=x+OU=y",
        ),
        # an attribute Go has no name for: <oid>=#<DER hex> at the end ('@' is not printable: UTF8String)
        (
            ((("commonName", "c"),), (("emailAddress", "a@b"),)),
            "CN=c,1.2.840.113549.1.9.1=#0c03614062",
        ),
        ((((("commonName", " #x+y "),),)[0],), "CN=\\ #x\\+y\\ "),
        ((((("commonName", "#x"),),)[0],), "CN=\\#x"),
    ],
)
def test_go_subject_string(subject: tuple[tuple[tuple[str, str], ...], ...], expected: str) -> None:
    assert go_subject_string(subject) == expected


def _json_line(req: Request) -> dict[str, object]:
    stream = io.BytesIO()
    log = AccessLog(format="json", stream=stream, wall_ns=lambda: 1_700_000_000_000_000_000)
    log.observer(req, 200, 2, 0.001, False)
    asyncio.run(log.aclose())
    entry: dict[str, object] = orjson.loads(stream.getvalue())
    return entry


def test_access_log_tls_fields_only_on_tls_connections() -> None:
    plain = Request("GET", "/", Headers([(b"Host", b"a")]), host="a")
    entry = _json_line(plain)
    assert entry["RequestScheme"] == "http"
    assert not {"TLSVersion", "TLSCipher", "TLSClientSubject"} & set(entry)

    secure = Request("GET", "/", Headers([(b"Host", b"a")]), host="a", scheme="https")
    secure.tls_info = TLSInfo("1.2", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")
    entry = _json_line(secure)
    assert entry["RequestScheme"] == "https"
    assert entry["TLSVersion"] == "1.2"
    assert entry["TLSCipher"] == "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
    assert "TLSClientSubject" not in entry  # Traefik sets it only when the client sent a certificate

    secure.tls_info = TLSInfo("1.3", "TLS_AES_128_GCM_SHA256", "CN=client,O=Hanzo")
    assert _json_line(secure)["TLSClientSubject"] == "CN=client,O=Hanzo"
