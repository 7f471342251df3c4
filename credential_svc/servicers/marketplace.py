"""MarketplaceService: validated requests in, catalog use cases, protobuf out. Writes act
as the caller's Actor (its key, the principal it names, admin or not)."""

from __future__ import annotations

import grpc
from botmesh.credential.v1 import marketplace_service_pb2 as api
from botmesh.credential.v1 import marketplace_service_pb2_grpc as rpc

from credential_svc.catalog.authors import Actor
from credential_svc.catalog.bots import BotRecord
from credential_svc.catalog.service import Catalog
from credential_svc.servicers.convert import bot_to_pb, listing_to_pb, risk_to_dict, stake_to_dict
from mesh.auth import caller


def _actor() -> Actor:
    who = caller()
    return Actor.of(who.key_id or "", who.scopes, who.principal)


class BotAnswers:
    """GetBot's answer, built once per bot record read. The catalog hands out the same
    (immutable) BotRecord object for as long as its near copy is valid, and a new object
    after any change, so the message built for an object stays right for as long as the
    catalog hands that object out. Building it (two maps, two Timestamps) cost more than
    the rest of this process's own work on a call. At most `limit` answers are kept."""

    def __init__(self, limit: int = 10_000) -> None:
        self._limit = limit
        self._answers: dict[str, tuple[BotRecord, api.GetBotResponse]] = {}

    def of(self, bot: BotRecord) -> api.GetBotResponse:
        held = self._answers.get(bot.bot_id)
        if held is not None and held[0] is bot:
            return held[1]
        answer = api.GetBotResponse(bot=bot_to_pb(bot))
        self._answers[bot.bot_id] = (bot, answer)
        if len(self._answers) > self._limit:
            del self._answers[next(iter(self._answers))]
        return answer


class MarketplaceServicer(rpc.MarketplaceServiceServicer):
    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self._answers = BotAnswers()

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
        return self._answers.of(await self._catalog.get_bot(request.bot_id))

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
