"""Where a subscription's exchange credential comes from: the credential service's internal
ReleaseCredential RPC, called with the internal service identity.

A credential is released for a purpose: TRADE (an ACTIVE credential behind a subscription
that may trade now) or WIND_DOWN (cancelling a stopped subscription's open orders, and
nothing else). The plaintext lives only in the returned `Credential` (its repr hides the secrets) on its way
into a ccxt client; it is never logged, cached outside process memory or put into an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import grpc
from botmesh.credential.v1 import internal_service_pb2 as internal
from botmesh.credential.v1 import internal_service_pb2_grpc as internal_rpc

from mesh.auth import INTERNAL_HEADER
from mesh.errors import FailedPrecondition, Unavailable
from mesh.tls import InternalTls, aio_channel

RELEASE_TIMEOUT_S = 5.0
TRADE = internal.RELEASE_PURPOSE_TRADE
WIND_DOWN = internal.RELEASE_PURPOSE_WIND_DOWN


@dataclass(frozen=True)
class Credential:
    credential_id: str
    exchange: str
    api_key: str = field(repr=False)
    api_secret: str = field(repr=False)
    passphrase: str = field(repr=False, default="")


class CredentialSource(Protocol):
    async def release(self, subscription_id: str, purpose: int = TRADE) -> Credential: ...

    async def close(self) -> None: ...


class InternalCredentialClient:
    """ReleaseCredential over one long-lived gRPC channel to the credential service."""

    def __init__(
        self,
        target: str,
        internal_token: str,
        options: Sequence[tuple[str, str | int]] = (),
        tls: InternalTls | None = None,
    ) -> None:
        # `options`: round_robin when `target` lists several replicas (ServiceAddress).
        self._channel = aio_channel(target, options, tls)
        self._stub = internal_rpc.InternalCredentialServiceStub(self._channel)
        self._metadata = ((INTERNAL_HEADER, internal_token),)

    async def release(self, subscription_id: str, purpose: int = TRADE) -> Credential:
        try:
            reply = await self._stub.ReleaseCredential(
                internal.ReleaseCredentialRequest(
                    subscription_id=subscription_id,
                    purpose=purpose,  # type: ignore[arg-type]
                ),
                metadata=self._metadata,
                timeout=RELEASE_TIMEOUT_S,
            )
        except grpc.aio.AioRpcError as exc:
            raise _mapped(exc.code()) from None
        return Credential(
            credential_id=reply.credential_id,
            exchange=reply.exchange,
            api_key=reply.api_key,
            api_secret=reply.api_secret,
            passphrase=reply.passphrase,
        )

    async def close(self) -> None:
        await self._channel.close()


def _mapped(code: grpc.StatusCode) -> Exception:
    if code == grpc.StatusCode.NOT_FOUND:
        return FailedPrecondition(
            "the subscription is not active or has no usable credential",
            reason="SUBSCRIPTION_NOT_ACTIVE",
        )
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        return FailedPrecondition(
            "the subscription's credential cannot be used", reason="CREDENTIAL_UNAVAILABLE"
        )
    return Unavailable(
        "the credential service could not be reached", reason="CREDENTIALS_UNAVAILABLE"
    )
