"""Asks trading_svc to cancel the open orders of stopped subscriptions: its internal
WindDownSubscriptions RPC, called with the internal service identity and a bounded deadline.

Called after a cancel or an erasure's cancel step has committed (nothing new can be placed
any more) and, for erasure, before the keys are shredded (trading_svc releases the
credential once more, for winding down only). An unreachable trading_svc is UNAVAILABLE for
the caller to retry: both callers repeat the wind-down on a retry.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import grpc
from botmesh.trading.v1 import internal_service_pb2 as internal
from botmesh.trading.v1 import internal_service_pb2_grpc as internal_rpc

from mesh.auth import INTERNAL_HEADER
from mesh.errors import Unavailable
from mesh.tls import InternalTls, aio_channel

log = logging.getLogger("botmesh.subscriptions.winddown")
TIMEOUT_S = 15.0
BATCH = 1000  # the RPC's max_items


class TradingWindDown:
    """WindDownSubscriptions over one long-lived channel to trading_svc."""

    def __init__(
        self,
        target: str,
        internal_token: str,
        options: Sequence[tuple[str, str | int]] = (),
        tls: InternalTls | None = None,
    ) -> None:
        self._target = target
        self._options = list(options)
        self._tls = tls
        self._metadata = ((INTERNAL_HEADER, internal_token),)
        self._channel: grpc.aio.Channel | None = None

    def _stub(self) -> internal_rpc.InternalTradingServiceStub:
        if self._channel is None:  # made lazily, inside the serving event loop
            self._channel = aio_channel(self._target, self._options, self._tls)
        return internal_rpc.InternalTradingServiceStub(self._channel)

    async def __call__(self, subscription_ids: Sequence[str]) -> None:
        ids = list(subscription_ids)
        for start in range(0, len(ids), BATCH):
            request = internal.WindDownSubscriptionsRequest(
                subscription_ids=ids[start : start + BATCH]
            )
            try:
                reply = await self._stub().WindDownSubscriptions(
                    request, metadata=self._metadata, timeout=TIMEOUT_S
                )
            except grpc.aio.AioRpcError as exc:
                log.warning(
                    "open orders not wound down", extra={"fields": {"code": exc.code().name}}
                )
                raise Unavailable(
                    "the subscription stopped, but its open orders could not be canceled yet; "
                    "retry",
                    reason="ORDERS_NOT_WOUND_DOWN",
                ) from None
            if reply.orders_failed:
                log.warning(
                    "some open orders stay open",
                    extra={"fields": {"failed": reply.orders_failed}},
                )
