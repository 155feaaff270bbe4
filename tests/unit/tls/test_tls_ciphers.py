"""The one Go <-> OpenSSL cipher-suite table, read both ways."""

from __future__ import annotations

import ssl

import pytest

from hanzo_edge.tls.ciphers import SUITES, CipherSuite, by_go_name, go_name_of_openssl, openssl_name_of_go


@pytest.mark.parametrize("suite", [s for s in SUITES if s.openssl], ids=lambda s: s.go)
def test_each_suite_reads_back_to_its_go_name(suite: CipherSuite) -> None:
    go = suite.go
    assert go_name_of_openssl(openssl_name_of_go(go)) == go


def test_go_aliases_of_chacha20_map_to_the_long_name() -> None:
    short = by_go_name("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305")
    assert short is not None
    assert short.go == "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"
    assert openssl_name_of_go("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305") == "ECDHE-ECDSA-CHACHA20-POLY1305"


def test_codes_match_what_this_openssl_calls_each_suite() -> None:
    # The IANA code ties our table to the library: every suite this OpenSSL offers under a Go name has that name.
    ctx = ssl.create_default_context()
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    offered = {c["id"] & 0xFFFF: c["name"] for c in ctx.get_ciphers()}
    checked = 0
    for suite in SUITES:
        if suite.code in offered:
            assert offered[suite.code] == suite.openssl, suite.go
            checked += 1
    assert checked >= 15


def test_unknown_names() -> None:
    assert openssl_name_of_go("TLS_NOPE") == ""
    assert openssl_name_of_go("TLS_FALLBACK_SCSV") == ""
    # a suite Go lacks is "unknown", as Traefik's GetCipherName says
    assert go_name_of_openssl("DHE-RSA-AES128-GCM-SHA256") == "unknown"
