"""Admin controls of the market side: prices, matching, rate limits and faults.

Split from admin_api.py (accounts/orders) only to keep files small; both register on the same
middleware and share its helpers.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from exchange_sim import views
from exchange_sim.admin_api import AdminError, body_of, decimal_of, sim_of
from exchange_sim.market import OverrideMode
from exchange_sim.simulator import Simulator

routes = web.RouteTableDef()


# -- markets and matching --------------------------------------------------------------------
def _market_json(sim: Simulator, symbol: str) -> dict[str, Any]:
    market = sim.markets[symbol]
    liquidity = market.maker_liquidity
    return {
        "symbol": symbol,
        "price": views.fmt(market.mid(sim.sim_ms())),
        "overridden": bool(market.overrides)
        and market.overrides[-1].mode is not OverrideMode.RELEASE,
        "maker_liquidity": None if liquidity is None else views.fmt(liquidity),
    }


def _symbol(request: web.Request) -> str:
    symbol = request.match_info["symbol"].upper()
    if symbol not in sim_of(request).markets:
        raise AdminError("unknown symbol", 404)
    return symbol


@routes.get("/admin/markets")
async def list_markets(request: web.Request) -> web.Response:
    """Current price and admin settings of every market."""
    sim = sim_of(request)
    return web.json_response([_market_json(sim, s) for s in sim.markets])


@routes.post("/admin/markets/{symbol}/price")
async def set_price(request: web.Request) -> web.Response:
    """Force the price: ``{"price": "59000", "hold": true}`` (hold=false: keep moving from it;
    ``"drift_per_minute": "0.001"``: trend from it by that fraction a sim minute)."""
    symbol = _symbol(request)
    body = await body_of(request)
    price = decimal_of(body.get("price"), "price")
    if price <= 0:
        raise AdminError("price must be positive")
    drift = decimal_of(body.get("drift_per_minute", "0"), "drift_per_minute")
    if not -1 < drift < 1:
        raise AdminError("drift_per_minute must be between -1 and 1")
    sim = sim_of(request)
    sim.set_price(symbol, price, bool(body.get("hold", True)), float(drift))
    return web.json_response(_market_json(sim, symbol))


@routes.delete("/admin/markets/{symbol}/price")
async def release_price(request: web.Request) -> web.Response:
    """Return the market to its seeded path."""
    symbol = _symbol(request)
    sim = sim_of(request)
    sim.release_price(symbol)
    return web.json_response(_market_json(sim, symbol))


@routes.post("/admin/markets/{symbol}/liquidity")
async def set_liquidity(request: web.Request) -> web.Response:
    """Base qty a resting order can fill per matching step (null = top-of-book size)."""
    symbol = _symbol(request)
    body = await body_of(request)
    raw = body.get("maker_liquidity")
    sim = sim_of(request)
    value = None if raw is None else decimal_of(raw, "maker_liquidity")
    if value is not None and value <= 0:
        raise AdminError("maker_liquidity must be positive")
    sim.markets[symbol].maker_liquidity = value
    return web.json_response(_market_json(sim, symbol))


@routes.post("/admin/matcher")
async def set_matcher(request: web.Request) -> web.Response:
    """Pause/resume the background matcher (tests step it by hand for determinism)."""
    body = await body_of(request)
    sim = sim_of(request)
    sim.matcher_paused = bool(body.get("paused", False))
    return web.json_response({"paused": sim.matcher_paused})


@routes.post("/admin/matcher/step")
async def matcher_step(request: web.Request) -> web.Response:
    """Run one matching step now -> ``{"fills": n}``."""
    return web.json_response({"fills": sim_of(request).match_step()})


# -- rate limits -----------------------------------------------------------------------------
def _limits_json(sim: Simulator) -> dict[str, Any]:
    s = sim.limiter.settings
    return {
        "limit": s.limit,
        "window_s": s.window_s,
        "ban_seconds": s.ban_seconds,
        "scope": s.scope,
    }


@routes.get("/admin/rate_limits")
async def get_limits(request: web.Request) -> web.Response:
    """Current REQUEST_WEIGHT settings."""
    return web.json_response(_limits_json(sim_of(request)))


@routes.post("/admin/rate_limits")
async def set_limits(request: web.Request) -> web.Response:
    """Change limit / window_s / ban_seconds / scope ("ip" or "key")."""
    body = await body_of(request)
    sim = sim_of(request)
    settings = sim.limiter.settings
    try:
        if "limit" in body:
            settings.limit = int(body["limit"])
        if "window_s" in body:
            settings.window_s = float(body["window_s"])
        if "ban_seconds" in body:
            settings.ban_seconds = float(body["ban_seconds"])
    except (TypeError, ValueError) as exc:
        raise AdminError("limit, window_s and ban_seconds must be numbers") from exc
    if "scope" in body:
        if body["scope"] not in ("ip", "key"):
            raise AdminError("scope must be 'ip' or 'key'")
        settings.scope = body["scope"]
    return web.json_response(_limits_json(sim))


@routes.post("/admin/rate_limits/reset")
async def reset_limits(request: web.Request) -> web.Response:
    """Forget all weight counters and bans."""
    sim = sim_of(request)
    sim.limiter.reset()
    return web.json_response(_limits_json(sim))


# -- faults ----------------------------------------------------------------------------------
@routes.get("/admin/faults")
async def list_faults(request: web.Request) -> web.Response:
    """Fault rules with their matched/fired counters."""
    return web.json_response([r.to_json() for r in sim_of(request).faults.rules()])


@routes.post("/admin/faults")
async def add_fault(request: web.Request) -> web.Response:
    """Add a fault rule (see README for the spec)."""
    body = await body_of(request)
    try:
        rule = sim_of(request).faults.add(body)
    except (TypeError, ValueError) as exc:
        raise AdminError(str(exc)) from exc
    return web.json_response(rule.to_json(), status=201)


@routes.delete("/admin/faults")
async def clear_faults(request: web.Request) -> web.Response:
    """Remove every fault rule."""
    sim_of(request).faults.clear()
    return web.json_response([])


@routes.delete("/admin/faults/{rule_id}")
async def delete_fault(request: web.Request) -> web.Response:
    """Remove one fault rule."""
    try:
        rule_id = int(request.match_info["rule_id"])
    except ValueError as exc:
        raise AdminError("rule id must be an integer") from exc
    if not sim_of(request).faults.remove(rule_id):
        raise AdminError("unknown fault rule", 404)
    return web.json_response({"deleted": rule_id})
