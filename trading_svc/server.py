"""trading_svc wiring: exchange access, market data, orders, bot runtime."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from botmesh.trading.v1 import (
    market_data_service_pb2,
    market_data_service_pb2_grpc,
    trading_service_pb2,
    trading_service_pb2_grpc,
)

from mesh.server import ServiceContext, ServiceSpec, unimplemented


def register(server: grpc.aio.Server, ctx: ServiceContext) -> Sequence[str]:
    # Owned by the exchange and orders work; they answer UNIMPLEMENTED until it lands.
    trading_service_pb2_grpc.add_TradingServiceServicer_to_server(
        unimplemented(trading_service_pb2_grpc.TradingServiceServicer), server
    )
    market_data_service_pb2_grpc.add_MarketDataServiceServicer_to_server(
        unimplemented(market_data_service_pb2_grpc.MarketDataServiceServicer), server
    )
    return [
        trading_service_pb2.DESCRIPTOR.services_by_name["TradingService"].full_name,
        market_data_service_pb2.DESCRIPTOR.services_by_name["MarketDataService"].full_name,
    ]


SPEC = ServiceSpec(name="trading_svc", address=lambda s: s.trading, register=register)
