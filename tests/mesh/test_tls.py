"""TLS settings (mesh/tls.py): unset is plaintext; half a setting is refused at start rather
than falling back to plaintext; internal TLS checks one expected name whatever the target."""

from __future__ import annotations

import dataclasses

import pytest

from mesh.settings import Settings
from mesh.tls import edge_tls, internal_tls


def test_unset_is_plaintext_on_both_sides(settings: Settings) -> None:
    assert edge_tls(settings) is None
    assert internal_tls(settings) is None


def test_internal_callers_expect_the_configured_name(settings: Settings) -> None:
    tls = internal_tls(
        dataclasses.replace(
            settings,
            internal_tls_ca_file="/x/ca.pem",
            internal_tls_cert_file="/x/i.pem",
            internal_tls_key_file="/x/i.key",
            internal_tls_server_name="mesh.internal",
        )
    )
    assert tls is not None
    assert tls.channel_options() == [("grpc.ssl_target_name_override", "mesh.internal")]


@pytest.mark.parametrize(
    "changes",
    [
        {"tls_cert_file": "/x/server.pem"},
        {"tls_key_file": "/x/server.key"},
    ],
)
def test_a_certificate_without_its_key_is_refused(
    settings: Settings, changes: dict[str, str]
) -> None:
    with pytest.raises(ValueError, match="go together"):
        edge_tls(dataclasses.replace(settings, **changes))


@pytest.mark.parametrize(
    "changes",
    [
        {"internal_tls_ca_file": "/x/ca.pem"},
        {"internal_tls_cert_file": "/x/i.pem", "internal_tls_key_file": "/x/i.key"},
    ],
)
def test_half_of_internal_tls_is_refused(settings: Settings, changes: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="set all three"):
        internal_tls(dataclasses.replace(settings, **changes))
