"""Server contexts survive a reload that does not touch TLS (so OpenSSL's session cache and ticket keys do too).

Each test builds two catalogs the way ``IngressApp.rebuild`` does (the second with ``previous=``) and checks which
context the second generation hands a handshake: the very same object when its options and certificate are
unchanged, a new one when either changed.
"""

from __future__ import annotations

import contextlib
import ssl
from pathlib import Path
from typing import Any

import pytest
import trustme

from hanzo_edge.config.dynamic import Configuration, decode_dynamic
from hanzo_edge.config.tls import TLSOptions
from hanzo_edge.tls.catalog import TLSCatalog, build_catalog
from hanzo_edge.tls.certificates import default_generated_certificate
from hanzo_edge.tls.options import compile_options


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


def leaf(ca: trustme.CA, root: Path, name: str, host: str) -> dict[str, str]:
    cert = ca.issue_cert(host, key_type=trustme.KeyType.ECDSA)
    cert_file, key_file = root / f"{name}.crt", root / f"{name}.key"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    return {"certFile": str(cert_file), "keyFile": str(key_file)}


def snapshot(tls: dict[str, Any], routers: int = 1) -> dict[str, Configuration]:
    http = {
        "routers": {f"r{i}": {"rule": f"Host(`r{i}.test`)", "service": "s"} for i in range(routers)},
        "services": {"s": {"loadBalancer": {"servers": [{"url": "http://127.0.0.1:1"}]}}},
    }
    config, _ = decode_dynamic({"http": http, "tls": tls})
    return {"file": config}


def generations(first: dict[str, Any], second: dict[str, Any]) -> tuple[TLSCatalog, TLSCatalog]:
    old = build_catalog(snapshot(first))
    old.context_for("websecure", "a.test")  # contexts are made on first use
    old.context_for("websecure", "")
    new = build_catalog(snapshot(second, routers=2), previous=old)
    assert not old.errors
    assert not new.errors
    return old, new


def test_an_unrelated_reload_hands_out_the_same_context_objects(ca: trustme.CA, tmp_path: Path) -> None:
    tls = {"certificates": [leaf(ca, tmp_path, "a", "a.test")], "options": {"default": {"minVersion": "VersionTLS12"}}}
    old, new = generations(tls, tls)
    assert new.context_for("websecure", "a.test") is old.context_for("websecure", "a.test")
    # The generated default certificate's context too (no SNI), without generating another key.
    assert new.context_for("websecure", "") is old.context_for("websecure", "")


def test_a_chain_of_reloads_keeps_the_first_context(ca: trustme.CA, tmp_path: Path) -> None:
    tls = {"certificates": [leaf(ca, tmp_path, "a", "a.test")]}
    catalog = build_catalog(snapshot(tls))
    first = catalog.context_for("websecure", "a.test")
    for routers in range(2, 6):  # the contexts a generation adopted are adopted again by the next
        catalog = build_catalog(snapshot(tls, routers), previous=catalog)
    assert catalog.context_for("websecure", "a.test") is first


def test_a_rotated_certificate_gets_a_new_context_with_the_new_certificate(ca: trustme.CA, tmp_path: Path) -> None:
    old_files = leaf(ca, tmp_path, "a", "a.test")
    old, new = generations({"certificates": [old_files]}, {"certificates": [leaf(ca, tmp_path, "a2", "a.test")]})
    fresh = new.context_for("websecure", "a.test")
    assert fresh is not None
    assert fresh is not old.context_for("websecure", "a.test")
    new_cert, old_cert = new.store.match("a.test"), old.store.match("a.test")
    assert new_cert is not None
    assert old_cert is not None
    assert new_cert.cert_path != old_cert.cert_path
    # An unchanged certificate beside it keeps its context.
    assert new.context_for("websecure", "") is old.context_for("websecure", "")


def test_the_same_bytes_rewritten_keep_the_context(ca: trustme.CA, tmp_path: Path) -> None:
    files = leaf(ca, tmp_path, "a", "a.test")
    catalog = build_catalog(snapshot({"certificates": [files]}))
    ctx = catalog.context_for("websecure", "a.test")
    Path(files["certFile"]).write_bytes(Path(files["certFile"]).read_bytes())  # touched: a poll sees a change
    again = build_catalog(snapshot({"certificates": [files]}), previous=catalog)
    assert again.context_for("websecure", "a.test") is ctx  # contexts are keyed by content, not by file


@pytest.mark.parametrize(
    "changed",
    [
        {"minVersion": "VersionTLS13"},
        {"alpnProtocols": ["http/1.1"]},
        {"cipherSuites": ["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"]},
        {"sniStrict": True},
        {"disableSessionTickets": True},
    ],
)
def test_changed_options_get_a_new_context(ca: trustme.CA, tmp_path: Path, changed: dict[str, Any]) -> None:
    certificates = [leaf(ca, tmp_path, "a", "a.test")]
    old, new = generations(
        {"certificates": certificates, "options": {"default": {"minVersion": "VersionTLS12"}}},
        {"certificates": certificates, "options": {"default": {"minVersion": "VersionTLS12", **changed}}},
    )
    assert new.context_for("websecure", "a.test") is not old.context_for("websecure", "a.test")


def test_a_changed_client_ca_gets_a_new_context(ca: trustme.CA, tmp_path: Path) -> None:
    certificates = [leaf(ca, tmp_path, "a", "a.test")]
    ca_file = tmp_path / "clients.pem"
    trustme.CA().cert_pem.write_to_path(str(ca_file))
    options = {"default": {"clientAuth": {"caFiles": [str(ca_file)], "clientAuthType": "RequireAndVerifyClientCert"}}}
    old = build_catalog(snapshot({"certificates": certificates, "options": options}))
    before = old.context_for("websecure", "a.test")
    same = build_catalog(snapshot({"certificates": certificates, "options": options}), previous=old)
    assert same.context_for("websecure", "a.test") is before
    trustme.CA().cert_pem.write_to_path(str(ca_file))  # same path, another CA
    other = build_catalog(snapshot({"certificates": certificates, "options": options}), previous=same)
    assert other.context_for("websecure", "a.test") is not before


def test_a_broken_option_adopts_nothing(ca: trustme.CA, tmp_path: Path) -> None:
    certificates = [leaf(ca, tmp_path, "a", "a.test")]
    old = build_catalog(snapshot({"certificates": certificates}))
    old.context_for("websecure", "a.test")
    new = build_catalog(
        snapshot({"certificates": certificates, "options": {"default": {"minVersion": "VersionTLS99"}}}), previous=old
    )
    assert "default" in new.broken
    assert new.adopt(old) == 0
    assert new.context_for("websecure", "a.test") is None  # the default options are broken: nothing is served


def _resumed(server: ssl.SSLContext, version: ssl.TLSVersion) -> bool:
    """Handshake twice over memory BIOs, offering the first session the second time; True when it was resumed."""
    client = ssl.create_default_context()
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE
    client.maximum_version = version
    session: ssl.SSLSession | None = None
    for _ in range(2):
        s_in, s_out, c_in, c_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
        srv = server.wrap_bio(s_in, s_out, server_side=True)
        cli = client.wrap_bio(c_in, c_out, session=session)
        for _ in range(10):  # a few flights each way complete any handshake
            for end in (cli, srv):
                with contextlib.suppress(ssl.SSLWantReadError):
                    end.do_handshake()
            s_in.write(c_out.read())
            c_in.write(s_out.read())
        srv.write(b"x")  # TLS 1.3 tickets arrive after the handshake, with the first data
        c_in.write(s_out.read())
        assert cli.read(1) == b"x"
        if session is not None:
            return cli.session_reused
        session = cli.session
    return False


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2], ids=["tls13", "tls12"])
def test_disable_session_tickets_stops_resumption(version: ssl.TLSVersion) -> None:
    cert = default_generated_certificate()
    plain = compile_options("default", TLSOptions()).context(cert.cert_path, cert.key_path)
    no_tickets = compile_options("default", TLSOptions(disable_session_tickets=True)).context(
        cert.cert_path, cert.key_path
    )
    assert _resumed(plain, version)
    # As in Go: no tickets, and no resumption by session id either (this OpenSSL's server cache does not resume
    # Python's server contexts); TLS 1.3 clients get no NewSessionTicket at all (num_tickets = 0).
    assert not _resumed(no_tickets, version)
    assert no_tickets.num_tickets == 0
