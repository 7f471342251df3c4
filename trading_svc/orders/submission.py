"""Submitting a stored order, shielded from the request that asked for it.

Once an order row exists, its send and a short inline settle run in a task of their own
that the caller cannot interrupt: a disconnect, Envoy's timeout or the handler's
cancellation only stop the waiting, never the submission. The task always ends with the
order in a state the rest of the system owns: terminal, live, or unsettled and handed to
the reconciler (follow_up). An unexpected failure after the row exists is logged and the
order left (or moved) to UNKNOWN for the reconciler; it never reads as "nothing happened".

An order's audit row (`order.place`) is appended in a task of its own once the order row
exists, beside the send and off the caller's path: the audit chain is one lock and four
statements, CPU that in the creating transaction cost a market order about 15 % at p50. The
order row is the audit row's outbox: a row the task did not write (a crash, a database
error) is appended by the reconciler's pass over recent orders (OrderAudit.repair), once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from mesh.errors import DomainError, Unavailable
from trading_svc.orders.execution import Executor
from trading_svc.orders.model import SUBMITTING, UNKNOWN, UNSETTLED, Order
from trading_svc.orders.store import OrderStore

log = logging.getLogger("botmesh.trading.orders")
RESOLVE_BACKOFF_S = (0.1, 0.25, 0.5, 1.0)


class Submitter:
    def __init__(
        self,
        store: OrderStore,
        executor: Executor,
        inline_resolve_s: float,
        follow_up: Callable[[Order], None],
        audit: Callable[[Order], Coroutine[Any, Any, None]] | None = None,
    ) -> None:
        self._audit = audit
        self._store = store
        self._executor = executor
        self._inline_s = inline_resolve_s
        self._follow_up = follow_up
        # Submissions in flight by order id. Also the strong references: a task nobody
        # awaits any more must not be collected.
        self._running: dict[str, asyncio.Task[tuple[Order, DomainError | None]]] = {}
        self._auditing: set[asyncio.Task[None]] = set()

    def _audited(self, task: asyncio.Task[None]) -> None:
        self._auditing.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning(
                "order audit row not written; the reconciler appends it",
                extra={"fields": {"error": type(task.exception()).__name__}},
            )

    @property
    def in_flight(self) -> int:
        return len(self._running)

    async def place(
        self, client: Any, order: Order, create: Callable[[], Awaitable[Order]]
    ) -> Order:
        """Stores `order` (PENDING_SUBMIT) through `create`, sends it and settles it
        briefly, all in one task the caller's cancellation cannot interrupt (not even
        inside the transaction that holds the subscription's lock). Returns the order as
        it stands, or the one `create` found for the same intent; raises the refusal of the
        checks or of the exchange, as a DomainError."""
        task = asyncio.create_task(self._create_and_run(client, order, create))
        placed, error = await asyncio.shield(task)
        if error is not None:
            raise error
        return placed

    async def _create_and_run(
        self, client: Any, order: Order, create: Callable[[], Awaitable[Order]]
    ) -> tuple[Order, DomainError | None]:
        try:
            stored = await create()
        except DomainError as error:  # refused by a check: nothing was stored
            return order, error
        if stored.order_id != order.order_id:  # a concurrent request of the same intent
            return await self.current(client, stored), None
        task = asyncio.current_task()
        assert task is not None
        self._running[order.order_id] = task  # type: ignore[assignment]
        if self._audit is not None:  # beside the send (see the module docstring)
            audit = asyncio.create_task(self._audit(stored))
            self._auditing.add(audit)
            audit.add_done_callback(self._audited)
        try:
            return await self._run(client, stored)
        finally:
            self._running.pop(order.order_id, None)

    async def current(self, client: Any, order: Order) -> Order:
        """An unsettled order as it stands, for a repeated request. When this process is
        still submitting it, that submission's outcome is awaited (bounded, shielded);
        otherwise the exchange is asked a little (settle)."""
        task = self._running.get(order.order_id)
        if task is None:
            return await self.settle(client, order)
        done, _ = await asyncio.wait({task}, timeout=self._inline_s)
        if done:
            return task.result()[0]
        return await self._store.load(order.order_id)

    async def settle(self, client: Any, order: Order) -> Order:
        """A short, bounded effort to resolve an unsettled order before answering; what is
        still unsettled goes to the reconciler, and the caller sees it as it is."""
        deadline = asyncio.get_running_loop().time() + self._inline_s
        for delay in RESOLVE_BACKOFF_S:
            if asyncio.get_running_loop().time() + delay > deadline:
                break
            await asyncio.sleep(delay)
            order = await self._executor.resolve(client, order)
            if order.state not in UNSETTLED:
                return order
        self._follow_up(order)
        return order

    async def drain(self, timeout_s: float) -> None:
        """Waits (bounded) for submissions and audit rows in flight, at shutdown."""
        pending = [*self._running.values(), *self._auditing]
        if pending:
            await asyncio.wait(pending, timeout=timeout_s)

    async def _run(self, client: Any, order: Order) -> tuple[Order, DomainError | None]:
        try:
            placed, error = await self._executor.send(client, order)
            if error is None and placed.state in UNSETTLED:
                placed = await self.settle(client, placed)
            return placed, error
        except Exception as exc:
            # The cause's text may quote the exchange's request: only its type is logged.
            log.error(
                "order submission failed; left to the reconciler",
                extra={"fields": {"order_id": order.order_id, "error": type(exc).__name__}},
            )
            return await self._left_unknown(order)

    async def _left_unknown(self, order: Order) -> tuple[Order, DomainError | None]:
        try:
            current = await self._store.load(order.order_id)
            if current.state == SUBMITTING:  # it may have left: only the exchange can say
                current = await self._store.transition(current, state=UNKNOWN) or (
                    await self._store.load(order.order_id)
                )
        except Exception as exc:
            log.error(
                "order state not readable after a failed submission",
                extra={"fields": {"order_id": order.order_id, "error": type(exc).__name__}},
            )
            self._follow_up(order)
            return order, Unavailable(
                "the order's outcome is not known yet; retry with the same Idempotency-Key",
                reason="ORDER_OUTCOME_PENDING",
                metadata={"order_id": order.order_id},
            )
        if current.state in UNSETTLED:
            self._follow_up(current)
        return current, None
