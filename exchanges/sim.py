"""The "sim" venue: an exchange's own ccxt class, every URL it may call pointed at exchange_sim.

ccxt builds each request URL from `urls['api']` (REST sections, and for ccxt.pro the
websocket ones under `ws`), nested dicts of strings. Every string there is rewritten the
same way, whatever the exchange: scheme and host become the sim's (ws/wss URLs become the
sim's ws:// form), the path stays. So `ccxt.binanceus` calls `http://sim/api/v3/order` where
it would call `https://api.binance.us/api/v3/order`. Sections the sim does not serve
(futures, options) answer 404, and nothing a client calls can leave the sim's host. The
sandbox (`test`) and `demo` sets are rewritten too, so switching to them cannot leave it.

exchange_sim speaks the binance family's API, so the venue serves the exchanges of that
family (ccxt's binance class and its subclasses, e.g. binanceus); any other id is refused
before a client is built (`require_served`), with FAILED_PRECONDITION EXCHANGE_NOT_ON_VENUE,
rather than sent to paths the sim does not have and answered as an outage.

The options suit a spot-only Binance-compatible venue: no futures exchangeInfo at
load_markets, no margin pair lists, no signed currency list, no warning on openOrders
without a symbol.
"""

from __future__ import annotations

import functools
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import ccxt
import ccxt.pro

from mesh.errors import FailedPrecondition

URL_SETS = ("api", "test", "demo")
# The family whose API exchange_sim speaks.
SERVED_FAMILY = "binance"


def require_served(exchange: str) -> None:
    """Refuses an exchange whose API the simulated venue does not speak."""
    klass = getattr(ccxt, exchange, None) if exchange in ccxt.exchanges else None
    if klass is None or not issubclass(klass, getattr(ccxt, SERVED_FAMILY)):
        raise FailedPrecondition(
            f"exchange {exchange} is not served by the simulated venue, which speaks the "
            f"{SERVED_FAMILY} family's API",
            reason="EXCHANGE_NOT_ON_VENUE",
            metadata={"exchange": exchange, "venue": "sim"},
        )


SIM_OPTIONS: dict[str, Any] = {
    "defaultType": "spot",
    "fetchMarkets": {"types": ["spot"]},
    "fetchMargins": False,
    "fetchCurrencies": False,
    "fetchOpenOrders": {"warnWithoutSymbol": False},
    "adjustForTimeDifference": False,
}


def rewrite_url(url: str, base_url: str) -> str:
    """`url` with the scheme and host of `base_url` (ws:// for websocket URLs), path kept."""
    base = urlsplit(base_url.rstrip("/"))
    parts = urlsplit(url)
    scheme = base.scheme
    if parts.scheme in ("ws", "wss"):
        scheme = "wss" if base.scheme == "https" else "ws"
    path = parts.path if parts.netloc or parts.scheme else url
    return urlunsplit((scheme, base.netloc, base.path + path, parts.query, ""))


def rewrite_urls(value: Any, base_url: str) -> Any:
    """Every string in a (nested) urls value rewritten with `rewrite_url`."""
    if isinstance(value, str):
        return rewrite_url(value, base_url)
    if isinstance(value, dict):
        return {key: rewrite_urls(item, base_url) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [rewrite_urls(item, base_url) for item in value]
    return value


@functools.cache
def _own_urls(exchange: str) -> dict[str, Any]:
    """The exchange's URL sets as its ccxt.pro class declares them (a superset of the REST
    class's: pro extends the REST description with `ws`), else as the REST class does."""
    module: Any = ccxt.pro if exchange in ccxt.pro.exchanges else ccxt
    urls = getattr(module, exchange)().urls
    return {name: urls[name] for name in URL_SETS if isinstance(urls.get(name), dict)}


def sim_urls(exchange: str, base_url: str) -> dict[str, Any]:
    """Value for ccxt's `urls` config key: `exchange`'s own URLs, all pointed at the sim."""
    if exchange not in ccxt.exchanges:
        raise ValueError(f"{exchange!r} is not a ccxt exchange")
    # rewrite_urls builds new containers: the cached originals are never handed out.
    return {name: rewrite_urls(urls, base_url) for name, urls in _own_urls(exchange).items()}


def sim_config(
    exchange: str,
    base_url: str,
    api_key: str | None = None,
    api_secret: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Constructor config for ccxt's (async or pro) `exchange` class against the sim at
    `base_url`. `extra` is merged on top; an `options` dict in it into the sim options."""
    config: dict[str, Any] = {"urls": sim_urls(exchange, base_url), "options": dict(SIM_OPTIONS)}
    if api_key is not None:
        config["apiKey"] = api_key
    if api_secret is not None:
        config["secret"] = api_secret
    extra_options = extra.pop("options", None)
    if extra_options:
        config["options"].update(extra_options)
    config.update(extra)
    return config
