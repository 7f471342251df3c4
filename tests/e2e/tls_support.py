"""A private mesh with TLS at the edge and mutual TLS between the services, both from the
development CA `botmesh up --tls --internal-tls` makes; and clients that trust that CA."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

from cli.dev_ca import DevCertificates, ensure_dev_certificates
from cli.launcher import Mesh
from tests.e2e.private_mesh import PrivateMeshes


def start_tls_mesh(meshes: PrivateMeshes, certs_dir: Path) -> tuple[Mesh, DevCertificates]:
    certs = ensure_dev_certificates(certs_dir)
    mesh = meshes.start(env=certs.env(internal=True))
    return mesh, certs


def client_context(
    ca_file: Path, *, alpn: list[str] | None = None, max_version: ssl.TLSVersion | None = None
) -> ssl.SSLContext:
    """A client context trusting only the development CA, checking host names."""
    context = ssl.create_default_context(cafile=str(ca_file))
    if alpn:
        context.set_alpn_protocols(alpn)
    if max_version is not None:
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.maximum_version = max_version
    return context


def handshake(context: ssl.SSLContext, host: str, port: int, server_name: str) -> ssl.SSLSocket:
    """A completed TLS handshake to host:port (the caller closes it)."""
    raw = socket.create_connection((host, port), timeout=10)
    try:
        return context.wrap_socket(raw, server_hostname=server_name)
    except BaseException:
        raw.close()
        raise
