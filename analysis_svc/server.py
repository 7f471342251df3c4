"""analysis_svc wiring: indicators, strategies, the LLM advisor, backtests."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from botmesh.analysis.v1 import analysis_service_pb2, analysis_service_pb2_grpc

from mesh.server import ServiceContext, ServiceSpec, unimplemented


def register(server: grpc.aio.Server, ctx: ServiceContext) -> Sequence[str]:
    # Owned by the analysis work; it answers UNIMPLEMENTED until it lands.
    analysis_service_pb2_grpc.add_AnalysisServiceServicer_to_server(
        unimplemented(analysis_service_pb2_grpc.AnalysisServiceServicer), server
    )
    return [analysis_service_pb2.DESCRIPTOR.services_by_name["AnalysisService"].full_name]


SPEC = ServiceSpec(name="analysis_svc", address=lambda s: s.analysis, register=register)
