"""Generate a self-signed certificate for ``app.localhost`` into ``examples/tls/certs/`` (run with the venv's python).

.venv/bin/python examples/tls/gen_cert.py
"""

from __future__ import annotations

import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

HERE = Path(__file__).resolve().parent


def main() -> None:
    out = HERE / "certs"
    out.mkdir(exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # RSA: the seed's suites are ECDHE-RSA
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "app.localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("app.localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    (out / "app.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file = out / "app.key"
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_file.chmod(0o600)
    print(f"wrote {out / 'app.crt'} and {key_file}")


if __name__ == "__main__":
    main()
