"""tls.options → server context settings: what is honoured, and what is refused with the option's name."""

from __future__ import annotations

import ssl

import pytest
import trustme

from hanzo_edge.config.tls import ClientAuth, TLSOptions
from hanzo_edge.tls.options import TLSOptionError, compile_options

SEED_SUITES = (
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_AES_128_GCM_SHA256",
    "TLS_CHACHA20_POLY1305_SHA256",
)


def test_defaults_are_traefiks_with_only_served_alpn() -> None:
    settings = compile_options("default", TLSOptions())
    assert settings.min_version == ssl.TLSVersion.TLSv1_2
    assert settings.alpn == ("h2", "http/1.1")  # acme-tls/1 is not served
    assert settings.server_preference


def test_hip68_seed_cipher_list_is_accepted_and_maps_the_tls12_suites() -> None:
    settings = compile_options("seed", TLSOptions(min_version="VersionTLS12", cipher_suites=SEED_SUITES))
    assert settings.ciphers == "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256"


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (TLSOptions(cipher_suites=("TLS_AES_128_GCM_SHA256",)), "cipherSuites"),
        (TLSOptions(cipher_suites=("TLS_RSA_WITH_RC4_128_SHA",)), "cipherSuites"),
        (TLSOptions(cipher_suites=("NOPE",)), "cipherSuites"),
        (TLSOptions(curve_preferences=("CurveP256", "X25519")), "curvePreferences"),
        (TLSOptions(curve_preferences=("X25519MLKEM768",)), "curvePreferences"),
        (TLSOptions(client_auth=ClientAuth(client_auth_type="RequestClientCert")), "clientAuthType"),
        (TLSOptions(client_auth=ClientAuth(client_auth_type="RequireAnyClientCert")), "clientAuthType"),
        (TLSOptions(client_auth=ClientAuth(client_auth_type="RequireAndVerifyClientCert")), "caFiles"),
        (TLSOptions(min_version="VersionTLS13", max_version="VersionTLS12"), "minVersion"),
        (TLSOptions(max_version="TLS9"), "maxVersion"),
        (TLSOptions(alpn_protocols=("acme-tls/1",)), "alpnProtocols"),
    ],
)
def test_what_cannot_be_enforced_is_refused_naming_the_option(options: TLSOptions, named: str) -> None:
    with pytest.raises(TLSOptionError, match=named):
        compile_options("x", options)


def test_one_curve_and_client_auth_types_are_honoured(tmp_path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text(trustme.CA().cert_pem.bytes().decode())
    settings = compile_options(
        "x",
        TLSOptions(
            curve_preferences=("CurveP384",),
            client_auth=ClientAuth(ca_files=(str(ca),)),  # caFiles without a type: RequireAndVerifyClientCert
            prefer_server_cipher_suites=False,
        ),
    )
    assert (settings.curve, settings.verify_mode, settings.server_preference) == ("secp384r1", ssl.CERT_REQUIRED, False)


@pytest.mark.parametrize("content", ["not a certificate", ""])
def test_a_ca_file_openssl_cannot_load_is_refused_at_load(tmp_path, content: str) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text(content)
    with pytest.raises(TLSOptionError, match=r"clientAuth\.caFiles: .* holds no PEM certificate"):
        compile_options("x", TLSOptions(client_auth=ClientAuth(ca_files=(str(ca),))))


def test_a_missing_ca_file_is_refused_at_load(tmp_path) -> None:
    with pytest.raises(TLSOptionError, match=r"clientAuth\.caFiles: cannot read"):
        compile_options("x", TLSOptions(client_auth=ClientAuth(ca_files=(str(tmp_path / "nope.pem"),))))
