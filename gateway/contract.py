"""What the gateway learns from the contract: which services are public, which methods
stream, and which process serves each package. Read from the generated descriptor set, so
adding an RPC to the protos is enough to route it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from botmesh.rules.v1 import rules_pb2
from google.protobuf import descriptor_pb2

from mesh.settings import ROOT

DESCRIPTOR_SET = ROOT / "gen" / "botmesh.binpb"
# Which process serves each protobuf package.
PACKAGE_CLUSTERS = {
    "botmesh.credential.v1": "credential_svc",
    "botmesh.trading.v1": "trading_svc",
    "botmesh.analysis.v1": "analysis_svc",
}


@dataclass(frozen=True)
class PublicService:
    full_name: str
    cluster: str
    streaming_methods: tuple[str, ...]


def load_descriptor_set(path: Path = DESCRIPTOR_SET) -> descriptor_pb2.FileDescriptorSet:
    fds = descriptor_pb2.FileDescriptorSet()
    fds.ParseFromString(path.read_bytes())
    return fds


def public_services(fds: descriptor_pb2.FileDescriptorSet) -> list[PublicService]:
    """Services of our packages none of whose methods is internal. Internal services are
    left out entirely, so Envoy has no route to them."""
    found = []
    for file in fds.file:
        cluster = PACKAGE_CLUSTERS.get(file.package)
        if cluster is None:
            continue
        for service in file.service:
            internal = any(m.options.Extensions[rules_pb2.access].internal for m in service.method)
            if internal:
                continue
            found.append(
                PublicService(
                    full_name=f"{file.package}.{service.name}",
                    cluster=cluster,
                    streaming_methods=tuple(m.name for m in service.method if m.server_streaming),
                )
            )
    return found
