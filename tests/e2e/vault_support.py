"""Helpers for the credential e2e tests: principals, headers, subscription rows inserted
through the real tables (subscriptions are created by a later change), internal gRPC calls."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from decimal import Decimal

import grpc
import httpx
import sqlalchemy as sa
from botmesh.credential.v1 import internal_service_pb2 as internal
from botmesh.credential.v1 import internal_service_pb2_grpc as internal_rpc
from google.rpc import error_details_pb2, status_pb2

from credential_svc.tables import exchange_credentials, subscriptions
from mesh.auth import INTERNAL_HEADER
from mesh.ids import new_id
from mesh.principal import format_principal
from mesh.settings import Settings


def new_principal() -> str:
    return format_principal(os.urandom(29))


def ph(key: str, principal: str) -> dict[str, str]:
    return {"x-api-key": key, "x-principal-id": principal}


async def register(rest: httpx.AsyncClient, key: str, principal: str) -> dict[str, object]:
    resp = await rest.post("/v1/users", json={"display_name": "Ada"}, headers=ph(key, principal))
    assert resp.status_code == 200, resp.text
    user: dict[str, object] = resp.json()["user"]
    return user


async def add_credential(
    rest: httpx.AsyncClient, key: str, principal: str, api_key: str, secret: str
) -> dict[str, object]:
    resp = await rest.post(
        "/v1/credentials",
        json={"exchange": "binance", "label": "main", "api_key": api_key, "api_secret": secret},
        headers=ph(key, principal),
    )
    assert resp.status_code == 200, resp.text
    credential: dict[str, object] = resp.json()["credential"]
    return credential


async def make_bot(rest: httpx.AsyncClient, key: str) -> str:
    resp = await rest.post(
        "/v1/bots",
        json={
            "name": "vault test bot",
            "strategy": "rsi",
            "markets": ["BTC-USDT"],
            "timeframe": "1h",
        },
        headers={"x-api-key": key},
    )
    assert resp.status_code == 200, resp.text
    return str(resp.json()["bot"]["bot_id"])


# The listing every support helper rents through: cheap enough that the helpers' default
# payment (1 ICP) covers any period RecordPayment accepts (up to 366 days).
LISTING_PRICE_E8S = 1_000_000
LISTING_PERIOD_DAYS = 30
MARKETPLACE_CANISTER = "qoctq-giaaa-aaaaa-aaaea-cai"


async def make_listing(
    rest: httpx.AsyncClient,
    headers: dict[str, str] | str,
    bot_id: str,
    *,
    price_e8s: int = LISTING_PRICE_E8S,
    period_days: int = LISTING_PERIOD_DAYS,
) -> dict[str, object]:
    """A listing of `bot_id`, made by its author (`headers`, or just the author's key)."""
    resp = await rest.post(
        f"/v1/bots/{bot_id}/listings",
        json={
            "canister_id": MARKETPLACE_CANISTER,
            "marketplace_listing_id": new_id("mkt"),
            "price_e8s": str(price_e8s),
            "period_days": period_days,
        },
        headers={"x-api-key": headers} if isinstance(headers, str) else headers,
    )
    assert resp.status_code == 200, resp.text
    listing: dict[str, object] = resp.json()["listing"]
    return listing


async def insert_subscription(
    engine,
    user_id: str,
    bot_id: str,
    credential_id: str,
    state: str = "ACTIVE",  # type: ignore[no-untyped-def]
) -> str:
    sub_id = new_id("sub")
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await conn.execute(
            subscriptions.insert().values(
                subscription_id=sub_id,
                user_id=user_id,
                bot_id=bot_id,
                credential_id=credential_id,
                market="BTC-USDT",
                allocation=Decimal("100"),
                risk_overrides={},
                state=state,
                paid_until=None,
                create_time=now,
                update_time=now,
            )
        )
    return sub_id


def grpc_reason(exc: grpc.aio.AioRpcError) -> str:
    """The google.rpc.ErrorInfo reason of a gRPC error."""
    raw = dict(exc.trailing_metadata() or ()).get("grpc-status-details-bin", b"")
    status = status_pb2.Status.FromString(raw)  # type: ignore[arg-type]
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return str(info.reason)
    return ""


async def mark_verified(engine, credential_id: str) -> None:  # type: ignore[no-untyped-def]
    """What an accepting verify writes, for a credential whose key no exchange knows."""
    async with engine.begin() as conn:
        await conn.execute(
            exchange_credentials.update()
            .where(exchange_credentials.c.credential_id == credential_id)
            .values(state="ACTIVE", verified=True, can_trade=True)
        )


async def subscription_state(engine, sub_id: str) -> str:  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        return str(
            (
                await conn.execute(
                    sa.select(subscriptions.c.state).where(
                        subscriptions.c.subscription_id == sub_id
                    )
                )
            ).scalar_one()
        )


async def release(
    settings: Settings, sub_id: str, *, internal_identity: bool = True
) -> internal.ReleaseCredentialResponse:
    md = ((INTERNAL_HEADER, settings.internal_token),) if internal_identity else ()
    async with grpc.aio.insecure_channel(settings.credential.target) as channel:
        stub = internal_rpc.InternalCredentialServiceStub(channel)
        return await stub.ReleaseCredential(
            internal.ReleaseCredentialRequest(subscription_id=sub_id), metadata=md, timeout=10
        )
