"""A development certificate authority for `botmesh up --tls`, made with `cryptography`.

The rules it keeps:
- everything lives in one folder of the state dir (`<state>/tls/`): the CA (ca.pem, ca.key),
  the edge's server certificate (server.pem, server.key) and the internal certificate the
  services present to each other and to Envoy (internal.pem, internal.key);
- private keys are written 0600, created exclusively, never printed or logged;
- files already there are reused while they are valid: a leaf that still verifies against
  the CA, names every required SAN and is more than a week from expiry. Anything else (a
  missing file, a CA past its term, a leaf from another CA) makes that part again, and a new
  CA re-issues both leaves;
- the leaves name localhost, 127.0.0.1 and ::1 (ICP outcalls in development come over
  IPv6), carry serverAuth and clientAuth, and live 90 days; the CA lives 5 years.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DNS_NAMES = ("localhost",)
IP_ADDRESSES = ("127.0.0.1", "::1")
CA_LIFETIME = timedelta(days=5 * 365)
LEAF_LIFETIME = timedelta(days=90)
# A certificate this close to its end is made again rather than reused.
RENEW_BEFORE = timedelta(days=7)


@dataclass(frozen=True)
class DevCertificates:
    """Paths of the development CA and the two leaves it issued."""

    ca_file: Path
    ca_key_file: Path
    server_cert_file: Path
    server_key_file: Path
    internal_cert_file: Path
    internal_key_file: Path

    def env(self, *, internal: bool = True) -> dict[str, str]:
        """The BOTMESH_* settings that turn TLS on with these files: the edge always,
        service-to-service too when `internal`."""
        env = {
            "BOTMESH_TLS_CERT_FILE": str(self.server_cert_file),
            "BOTMESH_TLS_KEY_FILE": str(self.server_key_file),
        }
        if internal:
            env |= {
                "BOTMESH_INTERNAL_TLS_CA_FILE": str(self.ca_file),
                "BOTMESH_INTERNAL_TLS_CERT_FILE": str(self.internal_cert_file),
                "BOTMESH_INTERNAL_TLS_KEY_FILE": str(self.internal_key_file),
            }
        return env


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _load(cert_file: Path, key_file: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{key_file} is not an EC key")
    return cert, key


def _fresh(cert: x509.Certificate, now: datetime) -> bool:
    return cert.not_valid_before_utc <= now and now + RENEW_BEFORE < cert.not_valid_after_utc


def _required_sans() -> set[object]:
    return {x509.DNSName(n) for n in DNS_NAMES} | {
        x509.IPAddress(ipaddress.ip_address(a)) for a in IP_ADDRESSES
    }


def _leaf_valid(leaf: x509.Certificate, ca: x509.Certificate, now: datetime) -> bool:
    """Issued by `ca` (signature checked), fresh, naming every required SAN."""
    try:
        leaf.verify_directly_issued_by(ca)
        sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (InvalidSignature, ValueError, TypeError, x509.ExtensionNotFound):
        return False
    return _fresh(leaf, now) and _required_sans() <= set(sans)


def _new_ca(now: datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "botmesh development CA")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _new_leaf(
    common_name: str, ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, now: datetime
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + LEAF_LIFETIME)
        .add_extension(x509.SubjectAlternativeName(list(_required_sans())), critical=False)  # type: ignore[arg-type]
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def ensure_dev_certificates(state_dir: Path, *, now: datetime | None = None) -> DevCertificates:
    """The development CA and its two leaves under `<state_dir>/tls`, made or reused."""
    now = now or datetime.now(UTC)
    folder = state_dir / "tls"
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    certs = DevCertificates(
        ca_file=folder / "ca.pem",
        ca_key_file=folder / "ca.key",
        server_cert_file=folder / "server.pem",
        server_key_file=folder / "server.key",
        internal_cert_file=folder / "internal.pem",
        internal_key_file=folder / "internal.key",
    )
    try:
        ca, ca_key = _load(certs.ca_file, certs.ca_key_file)
        if not _fresh(ca, now):
            raise ValueError("the CA is expired or about to")
    except (OSError, ValueError, TypeError):
        ca, ca_key = _new_ca(now)
        _write_key(certs.ca_key_file, ca_key)
        _write_cert(certs.ca_file, ca)
    for name, cert_file, key_file in (
        ("botmesh edge", certs.server_cert_file, certs.server_key_file),
        ("botmesh internal", certs.internal_cert_file, certs.internal_key_file),
    ):
        try:
            leaf, _ = _load(cert_file, key_file)
            if _leaf_valid(leaf, ca, now):
                continue
        except (OSError, ValueError, TypeError):
            pass
        leaf, key = _new_leaf(name, ca, ca_key, now)
        _write_key(key_file, key)
        _write_cert(cert_file, leaf)
    return certs


def trust_instructions(certs: DevCertificates, port: int) -> str:
    """How to make clients trust the development CA (never the key: only ca.pem)."""
    ca = certs.ca_file
    return "\n".join(
        [
            f"TLS with a development CA: {ca}",
            "  trust it (the CA certificate only; its key stays in the state folder):",
            f"  curl:     curl --cacert {ca} https://localhost:{port}/v1/...",
            f"  grpcurl:  grpcurl -cacert {ca} localhost:{port} list",
            f"  Python:   ssl.create_default_context(cafile='{ca}')"
            f"  (httpx: verify=that context; grpc: ssl_channel_credentials(open('{ca}','rb').read()))",
            "  browsers / OS store:",
            f"    Debian/Ubuntu: sudo cp {ca} /usr/local/share/ca-certificates/botmesh-dev.crt"
            " && sudo update-ca-certificates",
            f"    macOS: sudo security add-trusted-cert -d -r trustRoot"
            f" -k /Library/Keychains/System.keychain {ca}",
            "    Firefox/Chrome: Settings > Certificates > Authorities > Import (trust for websites)",
        ]
    )
