"""TLS settings as the mesh uses them: the edge's certificate (Envoy's public listener) and
the internal one (service-to-service gRPC, Envoy to the services).

The rules it keeps:
- TLS is all or nothing per side: a certificate without its key (or the internal CA without
  the internal certificate and key) is a configuration error, raised at start, never a
  silent fall back to plaintext;
- internal TLS is mutual: a service presents the internal certificate and requires its
  callers to present one the internal CA issued; callers check the service's certificate
  against that CA under one expected name (`server_name`), so a target listing several
  replica addresses verifies the same way as one;
- the internal identity is unchanged: callers still send the internal token header; TLS
  protects it on the wire, it does not replace it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc

from mesh.settings import Settings


@dataclass(frozen=True)
class EdgeTls:
    """Envoy's public certificate chain and key."""

    cert_file: Path
    key_file: Path


@dataclass(frozen=True)
class InternalTls:
    """The CA, certificate and key of service-to-service TLS."""

    ca_file: Path
    cert_file: Path
    key_file: Path
    server_name: str

    def server_credentials(self) -> grpc.ServerCredentials:
        """What a service serves with: its certificate, callers' certificates required."""
        return grpc.ssl_server_credentials(
            [(self.key_file.read_bytes(), self.cert_file.read_bytes())],
            root_certificates=self.ca_file.read_bytes(),
            require_client_auth=True,
        )

    def channel_credentials(self) -> grpc.ChannelCredentials:
        """What a caller dials with: the CA to check the service, its own certificate."""
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca_file.read_bytes(),
            private_key=self.key_file.read_bytes(),
            certificate_chain=self.cert_file.read_bytes(),
        )

    def channel_options(self) -> list[tuple[str, str | int]]:
        """The name to expect in the service's certificate, whatever the target says."""
        return [("grpc.ssl_target_name_override", self.server_name)]


def edge_tls(settings: Settings) -> EdgeTls | None:
    """The edge certificate, or None for a plaintext listener."""
    cert, key = settings.tls_cert_file, settings.tls_key_file
    if not cert and not key:
        return None
    if not (cert and key):
        raise ValueError("BOTMESH_TLS_CERT_FILE and BOTMESH_TLS_KEY_FILE go together")
    return EdgeTls(Path(cert).resolve(), Path(key).resolve())


def internal_tls(settings: Settings) -> InternalTls | None:
    """The internal TLS material, or None for plaintext between services."""
    parts = (
        settings.internal_tls_ca_file,
        settings.internal_tls_cert_file,
        settings.internal_tls_key_file,
    )
    if not any(parts):
        return None
    if not all(parts):
        raise ValueError(
            "BOTMESH_INTERNAL_TLS_CA_FILE, _CERT_FILE and _KEY_FILE go together: set all three"
        )
    ca, cert, key = (Path(p).resolve() for p in parts)
    return InternalTls(ca, cert, key, settings.internal_tls_server_name)


def aio_channel(
    target: str, options: Sequence[tuple[str, str | int]] = (), tls: InternalTls | None = None
) -> grpc.aio.Channel:
    """A channel to another service: over TLS when `tls` is given, else plaintext."""
    if tls is None:
        return grpc.aio.insecure_channel(target, options=list(options))
    return grpc.aio.secure_channel(
        target, tls.channel_credentials(), options=[*options, *tls.channel_options()]
    )


def sync_channel(target: str, tls: InternalTls | None = None) -> grpc.Channel:
    """A blocking channel to a service (the launcher's health checks)."""
    if tls is None:
        return grpc.insecure_channel(target)
    return grpc.secure_channel(target, tls.channel_credentials(), options=tls.channel_options())
