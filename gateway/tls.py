"""Envoy's TLS transport sockets, as typed envoy-data-plane messages.

The rules they keep:
- the public listener, when it has a certificate, accepts TLS 1.3 only (a client capped at
  TLS 1.2 is refused in the handshake) and offers h2 and http/1.1 by ALPN, so gRPC, REST and
  SSE share the one port as they do in plaintext;
- Envoy reaches the services over TLS when internal TLS is set: it checks each service's
  certificate against the internal CA under the expected name (the SNI it sends and the SAN
  it requires), presents the internal certificate itself (services require one), and speaks
  h2 (ALPN) to them; its gRPC health checks ride the same sockets;
- certificates are referenced by file name: Envoy reads them, the key never enters the
  bootstrap.
"""

from __future__ import annotations

import ipaddress

from envoy_data_plane.envoy.config.core.v3 import DataSource, TransportSocket
from envoy_data_plane.envoy.extensions.transport_sockets.tls.v3 import (
    CertificateValidationContext,
    CommonTlsContext,
    DownstreamTlsContext,
    SubjectAltNameMatcher,
    SubjectAltNameMatcherSanType,
    TlsCertificate,
    TlsParameters,
    TlsParametersTlsProtocol,
    UpstreamTlsContext,
)
from envoy_data_plane.envoy.type.matcher.v3 import StringMatcher
from envoy_data_plane.google.protobuf import Any as AnyPb

from mesh.tls import EdgeTls, InternalTls

TLS_SOCKET = "envoy.transport_sockets.tls"
# What the public listener offers by ALPN, preferred first.
EDGE_ALPN = ["h2", "http/1.1"]


def _certificate(cert_file: str, key_file: str) -> TlsCertificate:
    return TlsCertificate(
        certificate_chain=DataSource(filename=cert_file),
        private_key=DataSource(filename=key_file),
    )


def _tls13_only() -> TlsParameters:
    return TlsParameters(
        tls_minimum_protocol_version=TlsParametersTlsProtocol.TLSv1_3,
        tls_maximum_protocol_version=TlsParametersTlsProtocol.TLSv1_3,
    )


def downstream_socket(tls: EdgeTls) -> TransportSocket:
    """The public listener's TLS: TLS 1.3 minimum, ALPN h2 then http/1.1."""
    context = DownstreamTlsContext(
        common_tls_context=CommonTlsContext(
            tls_params=_tls13_only(),
            tls_certificates=[_certificate(str(tls.cert_file), str(tls.key_file))],
            alpn_protocols=list(EDGE_ALPN),
        )
    )
    return TransportSocket(name=TLS_SOCKET, typed_config=AnyPb.pack(context))


def upstream_socket(tls: InternalTls) -> TransportSocket:
    """Envoy to a service: mutual TLS with the internal CA and certificate, over h2."""
    context = UpstreamTlsContext(
        sni=tls.server_name,
        common_tls_context=CommonTlsContext(
            tls_params=_tls13_only(),
            tls_certificates=[_certificate(str(tls.cert_file), str(tls.key_file))],
            validation_context=CertificateValidationContext(
                trusted_ca=DataSource(filename=str(tls.ca_file)),
                match_typed_subject_alt_names=[
                    SubjectAltNameMatcher(
                        san_type=_san_type(tls.server_name),
                        matcher=StringMatcher(exact=tls.server_name),
                    )
                ],
            ),
            alpn_protocols=["h2"],
        ),
    )
    return TransportSocket(name=TLS_SOCKET, typed_config=AnyPb.pack(context))


def _san_type(name: str) -> SubjectAltNameMatcherSanType:
    """An IP literal is matched as an IP SAN, anything else as a DNS name."""
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return SubjectAltNameMatcherSanType.DNS
    return SubjectAltNameMatcherSanType.IP_ADDRESS
