"""Certificates of the TLS store: loaded from files or inline PEM, parsed once, selected by SNI.

Traefik's rules (``pkg/tls/certificate_store.go``): an exact name wins, then a ``*.`` wildcard covering one label;
no match gives the store's default certificate, which is ``tls.stores.default.defaultCertificate`` or, without one,
a self-signed ``TRAEFIK DEFAULT CERT`` generated once per process.

``ssl.SSLContext.load_cert_chain`` reads only files, and a certificate file may change while it is read: every
certificate is read once into memory when the configuration is built and written to a private per-process
directory under its content hash, so a context built later loads exactly the bytes that were checked.
"""

from __future__ import annotations

import atexit
import datetime
import hashlib
import os
import shutil
import ssl
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography import x509

# ``cryptography`` (about 10 MiB resident) is imported inside the functions that read or make a certificate, so a
# process without TLS never loads it.

__all__ = [
    "DEFAULT_CERT_CN",
    "CertificateError",
    "CertificateInfo",
    "CertificateStore",
    "LoadedCertificate",
    "default_generated_certificate",
    "generated_certificate_if_made",
    "load_certificate",
]

DEFAULT_CERT_CN = "TRAEFIK DEFAULT CERT"
_PEM_MARK = "-----BEGIN"


class CertificateError(ValueError):
    """A certificate or key that cannot be read or parsed, or a key that does not match its certificate."""


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    """What the metrics and the API say of a certificate (``tls_certs_not_after{cn,serial,sans}``)."""

    cn: str
    serial: str
    sans: tuple[str, ...]
    """The DNS names, sorted (Traefik's ``sort.Strings(DNSNames)``); joined with ``,`` in the metric."""
    not_after: float
    """Expiry as a UNIX timestamp."""


@dataclass(frozen=True, slots=True)
class LoadedCertificate:
    """A certificate and key checked to belong together, with the names SNI may select it by."""

    info: CertificateInfo
    names: frozenset[str]
    """Lower-case DNS names (CN and SANs) and IP SANs, wildcards kept as ``*.example.com``."""
    cert_path: str
    key_path: str
    sources: tuple[str, ...] = ()
    """The configured files it was read from (what a change poll watches); empty for inline PEM."""
    generated: bool = False

    @property
    def identity(self) -> str:
        """A stable key of the exact bytes (the private file name): contexts are cached by it."""
        return Path(self.cert_path).stem


def _private_dir() -> Path:
    # One 0700 directory per process; files are named by content hash, so a reload writes only new content.
    # Removed at exit (key material must not outlive the process; OpenSSL loads keys from files only).
    global _DIR
    if _DIR is None or not _DIR.is_dir():
        _DIR = Path(tempfile.mkdtemp(prefix="hanzo-edge-tls-"))
        atexit.register(shutil.rmtree, _DIR, True)
    return _DIR


_DIR: Path | None = None


def _read(value: str, what: str) -> tuple[bytes, str | None]:
    """Return the PEM bytes of ``value`` (a path or inline PEM) and the path it came from (None when inline)."""
    if value.lstrip().startswith(_PEM_MARK):
        return value.encode(), None
    if not value:
        raise CertificateError(f"{what} is empty")
    try:
        return Path(value).read_bytes(), value
    except OSError as exc:
        raise CertificateError(f"cannot read {what} {value!r}: {exc.strerror or exc}") from None


def _write_private(data: bytes, suffix: str) -> str:
    digest = hashlib.sha256(data).hexdigest()[:32]
    path = _private_dir() / f"{digest}{suffix}"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
    return str(path)


def _names(cert: x509.Certificate) -> tuple[str, tuple[str, ...], frozenset[str]]:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = str(cns[0].value) if cns else ""
    sans: list[str] = []
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        sans.extend(ext.get_values_for_type(x509.DNSName))
        sans.extend(str(ip) for ip in ext.get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        pass
    names = {name.lower().rstrip(".") for name in [cn, *sans] if name}
    return cn, tuple(sans), frozenset(names)


def _info(cert: x509.Certificate) -> tuple[CertificateInfo, frozenset[str]]:
    from cryptography import x509

    cn, _, names = _names(cert)
    not_after = cert.not_valid_after_utc.timestamp()
    # The metric's sans are the DNS names only, sorted (Traefik's appendCertMetric); IP SANs still match SNI above.
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns_names = tuple(sorted(ext.get_values_for_type(x509.DNSName)))
    except x509.ExtensionNotFound:
        dns_names = ()
    return CertificateInfo(cn, format(cert.serial_number, "d"), dns_names, not_after), names


def load_certificate(cert_file: str, key_file: str) -> LoadedCertificate:
    """Read a certificate chain and its key (paths or inline PEM); raise CertificateError naming what is wrong."""
    from cryptography import x509

    cert_pem, cert_source = _read(cert_file, "certFile")
    key_pem, key_source = _read(key_file, "keyFile")
    try:
        leaf = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        raise CertificateError(f"certFile {cert_source or '(inline PEM)'!r} holds no PEM certificate") from None
    cert_path = _write_private(cert_pem, ".crt")
    key_path = _write_private(key_pem, ".key")
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        probe.load_cert_chain(cert_path, key_path)
    except ssl.SSLError as exc:
        raise CertificateError(
            f"keyFile {key_source or '(inline PEM)'!r} does not match certFile {cert_source or '(inline PEM)'!r}"
            f" or is not a PEM key ({exc.reason or exc})"
        ) from None
    info, names = _info(leaf)
    sources = tuple(source for source in (cert_source, key_source) if source is not None)
    return LoadedCertificate(info, names, cert_path, key_path, sources)


_GENERATED: LoadedCertificate | None = None


def default_generated_certificate() -> LoadedCertificate:
    """Return the process's self-signed ``TRAEFIK DEFAULT CERT`` (generated on first use, then cached)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    global _GENERATED
    if _GENERATED is not None and Path(_GENERATED.cert_path).exists():
        return _GENERATED
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    # Traefik's default certificate names a random *.traefik.default host, so it never matches a real SNI.
    random_name = f"{os.urandom(16).hex()}.{os.urandom(16).hex()}.traefik.default"
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, DEFAULT_CERT_CN)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(random_name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path = _write_private(cert.public_bytes(serialization.Encoding.PEM), ".crt")
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key_path = _write_private(key_pem, ".key")
    info, names = _info(cert)
    _GENERATED = LoadedCertificate(info, names, cert_path, key_path, generated=True)
    return _GENERATED


def generated_certificate_if_made() -> LoadedCertificate | None:
    """The process's generated default certificate if it was made already (and its files are still there)."""
    if _GENERATED is not None and Path(_GENERATED.cert_path).exists():
        return _GENERATED
    return None


@dataclass(slots=True)
class CertificateStore:
    """The ``default`` store: certificates by name, and the default certificate."""

    configured_default: LoadedCertificate | None = None
    """``tls.stores.default.defaultCertificate``; None: the generated one, made on first need (see :attr:`default`)."""
    exact: dict[str, LoadedCertificate] = field(default_factory=dict)
    wildcard: dict[str, LoadedCertificate] = field(default_factory=dict)
    """``*.example.com`` filed under ``example.com``."""
    loaded: list[LoadedCertificate] = field(default_factory=list)

    @classmethod
    def of(cls, certificates: Iterable[LoadedCertificate], default: LoadedCertificate | None) -> CertificateStore:
        """Index ``certificates`` (the first one configured for a name keeps it, as in Traefik)."""
        store = cls(default)
        for cert in certificates:
            store.loaded.append(cert)
            for name in sorted(cert.names):
                if name.startswith("*."):
                    store.wildcard.setdefault(name[2:], cert)
                else:
                    store.exact.setdefault(name, cert)
        return store

    @property
    def default(self) -> LoadedCertificate:
        """The certificate of a handshake no other one matches: the configured default, else the generated one
        (made once per process, when first needed, so a process without TLS never makes or parses one)."""
        return self.configured_default or default_generated_certificate()

    def match(self, server_name: str) -> LoadedCertificate | None:
        """Return the certificate for ``server_name``: exact name, then a one-label wildcard; None if neither."""
        name = server_name.lower().rstrip(".")
        if not name:
            return None
        cert = self.exact.get(name)
        if cert is not None:
            return cert
        _, dot, parent = name.partition(".")
        if dot and parent:
            return self.wildcard.get(parent)
        return None

    def certificates(self) -> list[CertificateInfo]:
        """Parsed info of every configured certificate and of a configured default (not the generated one)."""
        seen: dict[str, CertificateInfo] = {}
        for cert in [*self.loaded, self.configured_default]:
            if cert is not None and not cert.generated:
                seen.setdefault(cert.identity, cert.info)
        return list(seen.values())


def file_fingerprints(paths: Iterable[str]) -> Mapping[str, tuple[int, int, int]]:
    """``path -> (mtime_ns, size, inode)``; a missing file reads as zeros, so its return counts as a change."""
    found: dict[str, tuple[int, int, int]] = {}
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            found[path] = (0, 0, 0)
        else:
            found[path] = (st.st_mtime_ns, st.st_size, st.st_ino)
    return found
