"""GetBotStatus and ListDecisions: the truth about a subscription's bot, from its owners'
records.

The state comes from credential_svc's answer now (paused, cancelled, unpaid, credential
gone) and the runtime's own record (halted by a risk rule, and why); the last decision from
the decision records; the position and what it commits from the fills and open orders; the
entry price from the ledger; the next tick time from the runtime state, in the exchange's
time (the close of the candle after the last one decided).
"""

from __future__ import annotations

from decimal import Decimal

from botmesh.trading.v1 import resources_pb2 as pb

from mesh.decimals import dec_str
from mesh.pagination import decode_int_token, encode_int_token, page_size
from mesh.timestamps import LAST_TIMESTAMP_MS, from_ts, ts_ms
from trading_svc.orders.store import OrderStore
from trading_svc.orders.subscriptions import SubscriptionReader
from trading_svc.runtime.decisions import Decided, DecisionStore
from trading_svc.runtime.events import status_pb
from trading_svc.runtime.state import RuntimeStore
from trading_svc.runtime.tick import Books


class BotStatusReader:
    def __init__(
        self,
        subs: SubscriptionReader,
        store: OrderStore,
        runtime: RuntimeStore,
        decisions: DecisionStore,
        books: Books,
    ) -> None:
        self._subs = subs
        self._store = store
        self._runtime = runtime
        self._decisions = decisions
        self._books = books

    async def status(self, principal: str | None, subscription_id: str) -> pb.BotStatus:
        sub = await self._subs.for_principal(principal, subscription_id)
        sid = sub.subscription_id
        state = await self._runtime.get(sid)
        status = status_pb(sub, state, await self._decisions.latest(sid))
        exposure = await self._store.exposure(sid, Decimal(0))
        status.position = dec_str(exposure.position)
        status.committed = dec_str(exposure.committed)
        if exposure.position > 0:
            entry = (await self._books.ledger(sid)).entry_price
            status.entry_price = dec_str(entry) if entry is not None else ""
        return status

    async def decisions(
        self, principal: str | None, subscription_id: str, requested: int, token: str
    ) -> tuple[list[Decided], str]:
        """One page of the bot's decisions, newest candle first; the token is the oldest
        candle's open time on the page."""
        sub = await self._subs.for_principal(principal, subscription_id)
        size = page_size(requested)
        before = from_ts(ts_ms(decode_int_token(token, 0, LAST_TIMESTAMP_MS))) if token else None
        rows = await self._decisions.page(sub.subscription_id, size + 1, before)
        more = len(rows) > size
        rows = rows[:size]
        last_ms = int(rows[-1].candle_time.timestamp() * 1000) if rows else 0
        return rows, encode_int_token(last_ms) if more else ""
