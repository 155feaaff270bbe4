"""The ZAP listener's TLS pieces without sockets: the memory-BIO engine, the server context, the settings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import trustme
from hypothesis import given
from hypothesis import strategies as st
from OpenSSL import SSL

from hanzo_edge.gateway.zap.contexts import (
    PQ_GROUP,
    CertificateError,
    client_context,
    negotiates,
    server_context,
)
from hanzo_edge.gateway.zap.settings import ZapSettings, ZapSettingsError, split_host_port
from hanzo_edge.gateway.zap.tls_engine import TlsEngine, TlsFailure


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def files(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("zap-tls")
    leaf = ca.issue_cert("zap.test")
    paths = {"cert": root / "tls.crt", "key": root / "tls.key", "ca": root / "ca.pem"}
    leaf.cert_chain_pems[0].write_to_path(paths["cert"])
    for extra in leaf.cert_chain_pems[1:]:
        extra.write_to_path(paths["cert"], append=True)
    leaf.private_key_pem.write_to_path(paths["key"])
    ca.cert_pem.write_to_path(paths["ca"])
    other = trustme.CA().issue_cert("other.test")
    paths["other_key"] = root / "other.key"
    other.private_key_pem.write_to_path(paths["other_key"])
    return paths


@pytest.fixture(scope="module")
def server_ctx(files: dict[str, Path]) -> SSL.Context:
    return server_context(str(files["cert"]), str(files["key"]))


def _pump(client: TlsEngine, server: TlsEngine) -> tuple[list[bytes], list[bytes]]:
    """Move records both ways until neither side has any; returns the plaintext each side received."""
    to_client: list[bytes] = []
    to_server: list[bytes] = []
    for _ in range(10):
        moved = False
        out = client.outgoing()
        if out:
            to_server += server.feed(out)
            moved = True
        out = server.outgoing()
        if out:
            to_client += client.feed(out)
            moved = True
        if not moved:
            break
    return to_client, to_server


def test_a_default_client_negotiates_the_hybrid_post_quantum_group(
    server_ctx: SSL.Context, files: dict[str, Path]
) -> None:
    client = TlsEngine.client(client_context(str(files["ca"])), "zap.test")
    server = TlsEngine.server(server_ctx)

    _pump(client, server)

    assert client.handshake_done
    assert server.handshake_done
    assert client.group == server.group == PQ_GROUP == "X25519MLKEM768"
    assert client.version == server.version == "TLSv1.3"
    assert negotiates(server_ctx) == PQ_GROUP


def test_a_tls12_client_is_refused_with_an_alert(server_ctx: SSL.Context) -> None:
    client = TlsEngine.client(client_context(verify=False, tls12_only=True))
    server = TlsEngine.server(server_ctx)

    with pytest.raises(TlsFailure, match=r"unsupported protocol|version"):
        server.feed(client.outgoing())
    alert = server.outgoing()

    assert alert[:1] == b"\x15"  # a TLS alert record goes back before the connection is closed
    with pytest.raises(TlsFailure):
        client.feed(alert)
    assert not server.handshake_done


def test_plaintext_crosses_both_ways_and_close_notify_half_closes(server_ctx: SSL.Context) -> None:
    client = TlsEngine.client(client_context(verify=False))
    server = TlsEngine.server(server_ctx)
    _pump(client, server)

    payload = bytes(range(256)) * 1024
    client.send(payload)
    _, at_server = _pump(client, server)
    assert b"".join(at_server) == payload

    client.close()
    _pump(client, server)
    assert server.peer_closed
    assert not client.peer_closed

    # TLS 1.3: the server's direction stays open after the client's close_notify.
    server.send(b"still here")
    at_client, _ = _pump(client, server)
    assert b"".join(at_client) == b"still here"
    server.close()
    _pump(client, server)
    assert client.peer_closed


@given(st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=20))
def test_records_split_anywhere_still_decrypt(server_ctx: SSL.Context, cuts: list[int]) -> None:
    client = TlsEngine.client(client_context(verify=False))
    server = TlsEngine.server(server_ctx)
    _pump(client, server)
    message = b"zap" * 3000
    client.send(message)
    wire = client.outgoing()
    got: list[bytes] = []
    position = 0
    for cut in cuts:
        got += server.feed(wire[position : position + cut])
        position += cut
    got += server.feed(wire[position:])
    assert b"".join(got) == message


def test_garbage_instead_of_a_client_hello_fails() -> None:
    server = TlsEngine.server(_context_for_garbage())
    with pytest.raises(TlsFailure):
        server.feed(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")


def _context_for_garbage() -> SSL.Context:
    ca = trustme.CA()
    leaf = ca.issue_cert("g.test")
    context = SSL.Context(SSL.TLS_SERVER_METHOD)
    with leaf.cert_chain_pems[0].tempfile() as cert, leaf.private_key_pem.tempfile() as key:
        context.use_certificate_file(cert)
        context.use_privatekey_file(key)
    return context


# -- certificate errors name the file -----------------------------------------------------------------------------
def test_a_missing_certificate_is_named(files: dict[str, Path], tmp_path: Path) -> None:
    missing = tmp_path / "nope.crt"
    with pytest.raises(CertificateError, match=f"certificate {missing}: No such file"):
        server_context(str(missing), str(files["key"]))


def test_a_missing_key_is_named(files: dict[str, Path], tmp_path: Path) -> None:
    missing = tmp_path / "nope.key"
    with pytest.raises(CertificateError, match=f"key {missing}: No such file"):
        server_context(str(files["cert"]), str(missing))


def test_a_file_that_is_not_a_certificate_is_named(files: dict[str, Path]) -> None:
    with pytest.raises(CertificateError, match=f"certificate {files['key']}: no PEM certificate"):
        server_context(str(files["key"]), str(files["key"]))


def test_a_key_of_another_certificate_is_refused(files: dict[str, Path]) -> None:
    with pytest.raises(CertificateError, match="does not match certificate"):
        server_context(str(files["cert"]), str(files["other_key"]))


# -- settings -----------------------------------------------------------------------------------------------------
def test_disabled_unless_exactly_true() -> None:
    assert not ZapSettings.from_env({}).enabled
    assert not ZapSettings.from_env({"ZAP_LISTENER_ENABLED": "1", "ZAP_LISTENER_PORT": "junk"}).enabled
    assert ZapSettings.from_env({"ZAP_LISTENER_ENABLED": "true"}).enabled


def test_defaults_are_hanzos() -> None:
    settings = ZapSettings.from_env({"ZAP_LISTENER_ENABLED": "true"})
    assert (settings.port, settings.cert_file, settings.key_file) == (9651, "/etc/tls/tls.crt", "/etc/tls/tls.key")
    assert settings.internal_addr == "127.0.0.1:9652"
    assert settings.handshake_timeout == 10.0


def test_values_are_read() -> None:
    settings = ZapSettings.from_env(
        {
            "ZAP_LISTENER_ENABLED": "true",
            "ZAP_LISTENER_PORT": "19651",
            "ZAP_TLS_CERT": "/c",
            "ZAP_TLS_KEY": "/k",
            "ZAP_INTERNAL_ADDR": "[::1]:7000",
            "ZAP_HANDSHAKE_TIMEOUT": "1500ms",
        }
    )
    assert (settings.port, settings.cert_file, settings.key_file) == (19651, "/c", "/k")
    assert (settings.internal_host, settings.internal_port, settings.internal_addr) == ("::1", 7000, "[::1]:7000")
    assert settings.handshake_timeout == 1.5


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("ZAP_LISTENER_PORT", "http", "ZAP_LISTENER_PORT='http': want a port number"),
        ("ZAP_LISTENER_PORT", "70000", "want a port number"),
        ("ZAP_INTERNAL_ADDR", "127.0.0.1", "ZAP_INTERNAL_ADDR='127.0.0.1': missing port"),
        ("ZAP_INTERNAL_ADDR", "::1:80", "too many colons"),
        ("ZAP_HANDSHAKE_TIMEOUT", "soon", "ZAP_HANDSHAKE_TIMEOUT='soon': want a Go duration"),
        ("ZAP_HANDSHAKE_TIMEOUT", "0s", "want a positive duration"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(ZapSettingsError, match=re.escape(message)):
        ZapSettings.from_env({"ZAP_LISTENER_ENABLED": "true", name: value})


def test_split_host_port_is_gos() -> None:
    assert split_host_port("a.b:1") == ("a.b", 1)
    assert split_host_port(":9652") == ("", 9652)
    assert split_host_port("[fe80::1]:443") == ("fe80::1", 443)
    for bad in ("a.b", "[::1]", "a:b:1", "a:0", "a:x"):
        with pytest.raises(ValueError, match=r"port|colons"):
            split_host_port(bad)


def test_pyopenssl_is_imported_only_when_the_listener_is_enabled() -> None:
    import subprocess
    import sys

    script = (
        "import sys, asyncio\n"
        "import hanzo_edge.commands.gateway_run, hanzo_edge.gateway.zap as zap\n"
        "assert asyncio.run(zap.start_zap_listener(None, {}, '127.0.0.1')) is None\n"
        "print('OpenSSL' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "False"


def test_the_zap_http_listener_variable_is_named_as_unsupported(caplog: pytest.LogCaptureFixture) -> None:
    import asyncio

    from hanzo_edge.gateway.zap import start_zap_listener

    with caplog.at_level("WARNING", logger="hanzo_edge.gateway.zap"):
        assert asyncio.run(start_zap_listener(None, {"KRAKEND_ZAP_LISTEN": ":9999"}, "")) is None  # type: ignore[arg-type]
    assert "KRAKEND_ZAP_LISTEN is not supported" in caplog.text


def test_a_bad_zap_variable_is_logged_and_nothing_starts(caplog: pytest.LogCaptureFixture) -> None:
    import asyncio

    from hanzo_edge.gateway.zap import start_zap_listener

    env = {"ZAP_LISTENER_ENABLED": "true", "ZAP_LISTENER_PORT": "nine"}
    with caplog.at_level("ERROR", logger="hanzo_edge.gateway.zap"):
        assert asyncio.run(start_zap_listener(None, env, "")) is None  # type: ignore[arg-type]
    assert "ZAP listener not started: ZAP_LISTENER_PORT='nine'" in caplog.text
