"""`botmesh up --tls`'s development CA (cli/dev_ca.py): what it makes, where, how private,
when it reuses and when it makes again, and the settings it points at its files."""

from __future__ import annotations

import ipaddress
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from cli.dev_ca import (
    LEAF_LIFETIME,
    DevCertificates,
    ensure_dev_certificates,
    trust_instructions,
)
from cli.main import _use_dev_certificates, parser


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _files(certs: DevCertificates) -> dict[str, bytes]:
    return {
        name: getattr(certs, name).read_bytes()
        for name in (
            "ca_file",
            "ca_key_file",
            "server_cert_file",
            "server_key_file",
            "internal_cert_file",
            "internal_key_file",
        )
    }


def test_keys_are_private_and_the_folder_is_the_state_dirs(tmp_path: Path) -> None:
    certs = ensure_dev_certificates(tmp_path)
    assert certs.ca_file.parent == tmp_path / "tls"
    assert stat.S_IMODE(os.stat(tmp_path / "tls").st_mode) == 0o700
    for key in (certs.ca_key_file, certs.server_key_file, certs.internal_key_file):
        assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
        assert b"PRIVATE KEY" in key.read_bytes()


def test_leaves_chain_to_the_ca_and_name_localhost_and_both_loopbacks(tmp_path: Path) -> None:
    certs = ensure_dev_certificates(tmp_path)
    ca = _cert(certs.ca_file)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    for leaf_file in (certs.server_cert_file, certs.internal_cert_file):
        leaf = _cert(leaf_file)
        leaf.verify_directly_issued_by(ca)
        sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert sans.get_values_for_type(x509.DNSName) == ["localhost"]
        assert set(sans.get_values_for_type(x509.IPAddress)) == {
            ipaddress.ip_address("127.0.0.1"),
            ipaddress.ip_address("::1"),
        }
        usages = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert set(usages) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
        assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_valid_files_are_reused_byte_for_byte(tmp_path: Path) -> None:
    first = _files(ensure_dev_certificates(tmp_path))
    again = _files(ensure_dev_certificates(tmp_path))
    assert again == first


def test_a_leaf_near_its_end_is_made_again_under_the_same_ca(tmp_path: Path) -> None:
    first = _files(ensure_dev_certificates(tmp_path))
    later = datetime.now(UTC) + LEAF_LIFETIME - timedelta(days=1)
    certs = ensure_dev_certificates(tmp_path, now=later)
    renewed = _files(certs)
    assert renewed["ca_file"] == first["ca_file"]
    assert renewed["server_cert_file"] != first["server_cert_file"]
    assert renewed["server_key_file"] != first["server_key_file"]
    _cert(certs.server_cert_file).verify_directly_issued_by(_cert(certs.ca_file))


def test_a_broken_ca_is_replaced_and_its_leaves_reissued(tmp_path: Path) -> None:
    first = ensure_dev_certificates(tmp_path)
    old_server = first.server_cert_file.read_bytes()
    first.ca_file.write_text("not a certificate")
    certs = ensure_dev_certificates(tmp_path)
    ca = _cert(certs.ca_file)
    assert certs.server_cert_file.read_bytes() != old_server
    _cert(certs.server_cert_file).verify_directly_issued_by(ca)
    _cert(certs.internal_cert_file).verify_directly_issued_by(ca)


def test_a_leaf_from_another_ca_is_reissued(tmp_path: Path) -> None:
    ours = ensure_dev_certificates(tmp_path / "ours")
    theirs = ensure_dev_certificates(tmp_path / "theirs")
    ours.internal_cert_file.write_bytes(theirs.internal_cert_file.read_bytes())
    ours.internal_key_file.unlink()
    ours.internal_key_file.write_bytes(theirs.internal_key_file.read_bytes())
    certs = ensure_dev_certificates(tmp_path / "ours")
    _cert(certs.internal_cert_file).verify_directly_issued_by(_cert(certs.ca_file))


def test_trust_instructions_name_the_ca_certificate_and_never_a_key(tmp_path: Path) -> None:
    certs = ensure_dev_certificates(tmp_path)
    text = trust_instructions(certs, 8443)
    assert f"curl --cacert {certs.ca_file} https://localhost:8443" in text
    assert f"grpcurl -cacert {certs.ca_file} localhost:8443" in text
    assert "ssl.create_default_context(cafile=" in text
    assert "update-ca-certificates" in text and "security add-trusted-cert" in text
    assert str(certs.ca_key_file) not in text and str(certs.server_key_file) not in text
    for key in (certs.ca_key_file, certs.server_key_file, certs.internal_key_file):
        assert key.read_text() not in text


def test_up_tls_points_the_settings_at_the_dev_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A copy of the environment: what --tls adds is gone after the test.
    env = {k: v for k, v in os.environ.items() if "TLS" not in k}
    monkeypatch.setattr(os, "environ", {**env, "BOTMESH_STATE_DIR": str(tmp_path)})
    args = parser().parse_args(["up", "--tls"])
    assert args.tls and not args.internal_tls
    text = _use_dev_certificates(internal=False)
    assert os.environ["BOTMESH_TLS_CERT_FILE"] == str(tmp_path / "tls" / "server.pem")
    assert os.environ["BOTMESH_TLS_KEY_FILE"] == str(tmp_path / "tls" / "server.key")
    assert "BOTMESH_INTERNAL_TLS_CA_FILE" not in os.environ
    assert str(tmp_path / "tls" / "ca.pem") in text

    _use_dev_certificates(internal=True)
    assert os.environ["BOTMESH_INTERNAL_TLS_CA_FILE"] == str(tmp_path / "tls" / "ca.pem")
    assert os.environ["BOTMESH_INTERNAL_TLS_CERT_FILE"] == str(tmp_path / "tls" / "internal.pem")
