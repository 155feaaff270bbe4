"""Server contexts survive a reload that does not touch TLS (so OpenSSL's session cache and ticket keys do too).

Each test builds two catalogs the way ``IngressApp.rebuild`` does (the second with ``previous=``) and checks which
context the second generation hands a handshake: the very same object when its options and certificate are
unchanged, a new one when either changed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trustme

from hanzo_edge.config.dynamic import Configuration, decode_dynamic
from hanzo_edge.tls.catalog import TLSCatalog, build_catalog


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
