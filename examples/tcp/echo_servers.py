"""The example's servers: a TCP echo on 127.0.0.1:9001, a UDP echo on :9002, and a TLS echo on :9003 (its own
self-signed certificate for ``raw.localhost``, made at start-up, to show passthrough). Ctrl-C stops them.

.venv/bin/python examples/tcp/echo_servers.py
"""

from __future__ import annotations

import asyncio
import datetime
import ssl
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    if writer.can_write_eof():
        writer.write_eof()  # the client's half-close came through the proxy: answer with ours
    writer.close()


class UDPEcho(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.DatagramTransport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(b"echo: " + data, addr)


def self_signed(directory: Path, name: str) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


async def main() -> None:
    loop = asyncio.get_running_loop()
    with tempfile.TemporaryDirectory() as tmp:
        tls = self_signed(Path(tmp), "raw.localhost")
        tcp = await asyncio.start_server(echo, "127.0.0.1", 9001)
        tls_server = await asyncio.start_server(echo, "127.0.0.1", 9003, ssl=tls)
        await loop.create_datagram_endpoint(UDPEcho, local_addr=("127.0.0.1", 9002))
        print("TCP echo on 127.0.0.1:9001, UDP echo on 127.0.0.1:9002, TLS echo (raw.localhost) on 127.0.0.1:9003")
        async with tcp, tls_server:
            await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
