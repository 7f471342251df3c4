"""Admin HTTP API (/admin/...): token check, health/stats, accounts, orders and trades.

This is the test/bench control plane, not part of Binance's API (market-side controls --
prices, matching, rate limits, faults -- are in admin_controls.py).  When an admin token is
configured every admin request must carry ``X-Admin-Token: <token>`` (or a Bearer header).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from exchange_sim import views
from exchange_sim.accounts import FEE_ASSETS, Account, Permissions
from exchange_sim.keys import SIMULATOR
from exchange_sim.simulator import Simulator

routes = web.RouteTableDef()
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class AdminError(Exception):
    """Bad admin request: rendered as ``{"error": msg}`` with ``status``."""

    def __init__(self, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.msg = msg
        self.status = status


@web.middleware
async def admin_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Enforce the admin token on /admin paths and render AdminError."""
    if not request.path.startswith("/admin"):
        return await handler(request)
    token = request.app[SIMULATOR].config.admin_token
    if token:
        sent = request.headers.get("X-Admin-Token") or ""
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            sent = sent or auth[len("Bearer ") :]
        if not hmac.compare_digest(sent.encode(), token.encode()):
            return web.json_response({"error": "admin token required"}, status=401)
    try:
        return await handler(request)
    except AdminError as exc:
        return web.json_response({"error": exc.msg}, status=exc.status)


def sim_of(request: web.Request) -> Simulator:
    """The simulator behind this request's app."""
    return request.app[SIMULATOR]


async def body_of(request: web.Request) -> dict[str, Any]:
    """JSON object body ({} when empty), or AdminError."""
    if not request.body_exists:
        return {}
    try:
        data = await request.json()
    except ValueError as exc:
        raise AdminError("body must be JSON") from exc
    if not isinstance(data, dict):
        raise AdminError("body must be a JSON object")
    return data


def decimal_of(value: Any, name: str) -> Decimal:
    """Finite Decimal from a JSON number/string, or AdminError naming the field."""
    try:
        result = Decimal(str(value))
    except InvalidOperation as exc:
        raise AdminError(f"{name} must be a decimal") from exc
    if not result.is_finite():
        raise AdminError(f"{name} must be finite")
    return result


def _opt_int(value: Any, name: str) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise AdminError(f"{name} must be an integer") from exc


def _balances(raw: Any) -> dict[str, Decimal]:
    if not isinstance(raw, dict):
        raise AdminError("balances must be an object {asset: amount}")
    return {
        str(asset).upper(): decimal_of(amount, f"balances.{asset}") for asset, amount in raw.items()
    }


def _account(request: web.Request, api_key: str | None = None) -> Account:
    key = api_key or request.match_info.get("api_key") or ""
    account = sim_of(request).accounts.get(key)
    if account is None:
        raise AdminError("unknown api key", 404)
    return account


def _account_json(account: Account) -> dict[str, Any]:
    perms = account.permissions
    return {
        "uid": account.uid,
        "api_key": account.api_key,
        "permissions": {
            "can_read": perms.can_read,
            "can_trade": perms.can_trade,
            "can_withdraw": perms.can_withdraw,
            "ip_whitelist": list(perms.ip_whitelist),
        },
        "weight_limit": account.weight_limit,
        "fee_asset": account.fee_asset,
        "balances": {
            asset: {"free": views.fmt(row.free), "locked": views.fmt(row.locked)}
            for asset, row in sorted(account.balances.items())
        },
    }


def _apply_permissions(perms: Permissions, body: dict[str, Any]) -> None:
    for name in ("can_read", "can_trade", "can_withdraw"):
        if name in body:
            setattr(perms, name, bool(body[name]))
    if "ip_whitelist" in body:
        ips = body["ip_whitelist"] or []
        if not isinstance(ips, list):
            raise AdminError("ip_whitelist must be a list of addresses")
        perms.ip_whitelist = tuple(str(ip) for ip in ips)


# -- health, clock, stats --------------------------------------------------------------------
@routes.get("/admin/health")
async def health(request: web.Request) -> web.Response:
    """Liveness plus the knobs a caller may want to log."""
    sim = sim_of(request)
    return web.json_response(
        {
            "ok": True,
            "seed": sim.config.seed,
            "speed": sim.clock.speed,
            "server_time": sim.now_ms(),
            "sim_time": int(sim.sim_ms()),
            "markets": list(sim.markets),
        }
    )


@routes.post("/admin/clock")
async def set_clock(request: web.Request) -> web.Response:
    """Change the sim-clock speed factor (continuously)."""
    body = await body_of(request)
    try:
        sim_of(request).clock.set_speed(float(body.get("speed", 0)))
    except (TypeError, ValueError) as exc:
        raise AdminError("speed must be a positive number") from exc
    return web.json_response({"speed": sim_of(request).clock.speed})


@routes.get("/admin/stats")
async def stats(request: web.Request) -> web.Response:
    """Request counters per endpoint, order counts, fault counters."""
    sim = sim_of(request)
    orders = [o for a in sim.accounts.all() for o in sim.engine.orders_of(a.api_key)]
    return web.json_response(
        {
            "requests": dict(sim.requests),
            "orders_created": len(orders),
            "accounts": len(sim.accounts.all()),
            "faults": [r.to_json() for r in sim.faults.rules()],
        }
    )


# -- accounts --------------------------------------------------------------------------------
@routes.post("/admin/accounts")
async def create_account(request: web.Request) -> web.Response:
    """Create an account -> ``{api_key, api_secret, uid}``."""
    body = await body_of(request)
    perms = Permissions()
    _apply_permissions(perms, body)
    weight_limit = _opt_int(body.get("weight_limit"), "weight_limit")
    balances = _balances(body.get("balances", {}))
    fee_asset = body.get("fee_asset", "quote")
    if fee_asset not in FEE_ASSETS:
        raise AdminError(f"fee_asset must be one of {list(FEE_ASSETS)}")
    api_key, api_secret = body.get("api_key"), body.get("api_secret")
    if not all(v is None or (isinstance(v, str) and v) for v in (api_key, api_secret)):
        raise AdminError("api_key and api_secret must be non-empty strings")
    try:
        account = sim_of(request).create_account(
            balances=balances,
            permissions=perms,
            api_key=api_key,
            api_secret=api_secret,
            weight_limit=weight_limit,
            fee_asset=fee_asset,
        )
    except ValueError as exc:  # the only failure left: the key is taken
        raise AdminError(str(exc), 409) from exc
    return web.json_response(
        {"api_key": account.api_key, "api_secret": account.api_secret, "uid": account.uid},
        status=201,
    )


@routes.get("/admin/accounts")
async def list_accounts(request: web.Request) -> web.Response:
    """All accounts (without secrets)."""
    return web.json_response([_account_json(a) for a in sim_of(request).accounts.all()])


@routes.get("/admin/accounts/{api_key}")
async def get_account(request: web.Request) -> web.Response:
    """Permissions and balances of one account."""
    return web.json_response(_account_json(_account(request)))


@routes.post("/admin/accounts/{api_key}/balances")
async def set_balances(request: web.Request) -> web.Response:
    """Set (``mode: set``, default) or add to (``mode: add``) free balances."""
    account = _account(request)
    body = await body_of(request)
    mode = body.get("mode", "set")
    if mode not in ("set", "add"):
        raise AdminError("mode must be 'set' or 'add'")
    for asset, amount in _balances(body.get("balances", {})).items():
        row = account.balance(asset)
        row.free = row.free + amount if mode == "add" else amount
    return web.json_response(_account_json(account))


@routes.post("/admin/accounts/{api_key}/permissions")
async def set_permissions(request: web.Request) -> web.Response:
    """Change key permissions and/or the key's own weight limit."""
    account = _account(request)
    body = await body_of(request)
    _apply_permissions(account.permissions, body)
    if "weight_limit" in body:
        account.weight_limit = _opt_int(body["weight_limit"], "weight_limit")
    return web.json_response(_account_json(account))


# -- orders and trades -----------------------------------------------------------------------
@routes.get("/admin/orders")
async def list_orders(request: web.Request) -> web.Response:
    """Every order of an account (any status), filterable by symbol and clientOrderId."""
    sim = sim_of(request)
    account = _account(request, request.query.get("api_key"))
    symbol = request.query.get("symbol")
    client_id = request.query.get("clientOrderId")
    orders = [
        {**views.order_json(o), "apiKey": o.api_key}
        for o in sim.engine.orders_of(account.api_key)
        if (not symbol or o.symbol == symbol) and (not client_id or o.client_order_id == client_id)
    ]
    return web.json_response({"orders": orders})


@routes.get("/admin/trades")
async def list_trades(request: web.Request) -> web.Response:
    """Every fill of an account."""
    sim = sim_of(request)
    account = _account(request, request.query.get("api_key"))
    symbol = request.query.get("symbol")
    trades = [
        views.trade_json(f)
        for f in sim.engine.trades_of(account.api_key)
        if not symbol or f.symbol == symbol
    ]
    return web.json_response({"trades": trades})
