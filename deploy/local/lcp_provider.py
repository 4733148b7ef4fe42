"""Local LCP credentials so `make up` works out of the box: a local root CA, a provider certificate it signs,
and a master key for content-key envelopes. Production plugs in its own (see README, "LCP in production")."""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class LcpFiles:
    ca_certificate: Path
    certificate: Path
    key: Path
    master_key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Sách Số (local development)"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _write_private(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o600)


def ensure_lcp_files(folder: Path) -> LcpFiles:
    """Create the files once; later calls return the same ones."""
    files = LcpFiles(folder / "ca.pem", folder / "provider.pem", folder / "provider-key.pem", folder / "master-key.b64")
    if all(path.exists() for path in files.__dict__.values()):
        return files
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC) - timedelta(minutes=5)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("Sách Số local LCP root"))
        .issuer_name(_name("Sách Số local LCP root"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    provider_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    provider = (
        x509.CertificateBuilder()
        .subject_name(_name("Sách Số local LCP provider"))
        .issuer_name(ca.subject)
        .public_key(provider_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=825))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    files.ca_certificate.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.certificate.write_bytes(provider.public_bytes(serialization.Encoding.PEM))
    _write_private(
        files.key,
        provider_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )
    _write_private(files.master_key, base64.b64encode(os.urandom(32)) + b"\n")
    return files
