"""MarketplaceService: validated requests in, catalog use cases, protobuf out. Writes act
as the caller's Actor (its key, the principal it names, admin or not)."""

from __future__ import annotations

import grpc
from botmesh.credential.v1 import marketplace_service_pb2 as api
from botmesh.credential.v1 import marketplace_service_pb2_grpc as rpc

from credential_svc.catalog.authors import Actor
from credential_svc.catalog.service import Catalog
from credential_svc.servicers.convert import bot_to_pb, listing_to_pb, risk_to_dict, stake_to_dict
from mesh.auth import caller


def _actor() -> Actor:
    who = caller()
    return Actor.of(who.key_id or "", who.scopes, who.principal)


class MarketplaceServicer(rpc.MarketplaceServiceServicer):
    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    async def CreateBot(
        self, request: api.CreateBotRequest, context: grpc.aio.ServicerContext
    ) -> api.CreateBotResponse:
        bot = await self._catalog.create_bot(
            _actor(),
            name=request.name,
            description=request.description,
            strategy=request.strategy,
            strategy_params=dict(request.strategy_params),
            markets=tuple(request.markets),
            timeframe=request.timeframe,
            risk_limits=risk_to_dict(request.risk_limits),
            advisor_enabled=request.advisor_enabled,
            stake=stake_to_dict(request.stake),
        )
        return api.CreateBotResponse(bot=bot_to_pb(bot))

    async def GetBot(
        self, request: api.GetBotRequest, context: grpc.aio.ServicerContext
    ) -> api.GetBotResponse:
        return api.GetBotResponse(bot=bot_to_pb(await self._catalog.get_bot(request.bot_id)))

    async def ListBots(
        self, request: api.ListBotsRequest, context: grpc.aio.ServicerContext
    ) -> api.ListBotsResponse:
        bots, token = await self._catalog.list_bots(request.page_size, request.page_token)
        return api.ListBotsResponse(bots=[bot_to_pb(b) for b in bots], next_page_token=token)

    async def UpdateBot(
        self, request: api.UpdateBotRequest, context: grpc.aio.ServicerContext
    ) -> api.UpdateBotResponse:
        bot = request.bot
        values: dict[str, object] = {
            "name": bot.name,
            "description": bot.description,
            "strategy": bot.strategy,
            "strategy_params": dict(bot.strategy_params),
            "markets": tuple(bot.markets),
            "timeframe": bot.timeframe,
            "risk_limits": risk_to_dict(bot.risk_limits),
            "advisor_enabled": bot.advisor_enabled,
            "stake": stake_to_dict(bot.stake),
        }
        updated = await self._catalog.update_bot(
            _actor(), bot.bot_id, list(request.update_mask.paths), values
        )
        return api.UpdateBotResponse(bot=bot_to_pb(updated))

    async def CreateListing(
        self, request: api.CreateListingRequest, context: grpc.aio.ServicerContext
    ) -> api.CreateListingResponse:
        listing = await self._catalog.create_listing(
            _actor(),
            bot_id=request.bot_id,
            canister_id=request.canister_id,
            marketplace_listing_id=request.marketplace_listing_id,
            price_e8s=request.price_e8s,
            period_days=request.period_days,
        )
        return api.CreateListingResponse(listing=listing_to_pb(listing))

    async def ListListings(
        self, request: api.ListListingsRequest, context: grpc.aio.ServicerContext
    ) -> api.ListListingsResponse:
        listings, token = await self._catalog.list_listings(
            request.bot_id, request.page_size, request.page_token
        )
        return api.ListListingsResponse(
            listings=[listing_to_pb(x) for x in listings], next_page_token=token
        )
