"""Pointing an unmodified ``ccxt.binance`` (async_support or pro) at a simulator.

ccxt builds every URL from ``urls['api'][<section>]`` and merges constructor config into its
defaults (deep-extend), so overriding the sections is enough.  Every section is redirected --
including futures/options ones the simulator does not serve (they 404) -- so that nothing a
client calls can ever leave the loopback interface.  The options switch off calls a spot-only
venue has no use for (futures exchangeInfo at load_markets, margin pair lists, the
signed currency list) and ccxt's warning on openOrders without a symbol.
"""

from __future__ import annotations

from typing import Any

_REST_SECTIONS: dict[str, str] = {
    "public": "/api/v3",
    "private": "/api/v3",
    "v1": "/api/v1",
    "sapi": "/sapi/v1",
    "sapiV2": "/sapi/v2",
    "sapiV3": "/sapi/v3",
    "sapiV4": "/sapi/v4",
    "dapiPublic": "/dapi/v1",
    "dapiPrivate": "/dapi/v1",
    "dapiPrivateV2": "/dapi/v2",
    "dapiData": "/futures/data",
    "eapiPublic": "/eapi/v1",
    "eapiPrivate": "/eapi/v1",
    "fapiPublic": "/fapi/v1",
    "fapiPublicV2": "/fapi/v2",
    "fapiPublicV3": "/fapi/v3",
    "fapiPrivate": "/fapi/v1",
    "fapiPrivateV2": "/fapi/v2",
    "fapiPrivateV3": "/fapi/v3",
    "fapiData": "/futures/data",
    "papi": "/papi/v1",
    "papiV2": "/papi/v2",
}

_WS_SECTIONS = ("spot", "margin", "linear", "inverse", "stock", "option", "optionMarket")


def _ws_base(base_url: str) -> str:
    base = base_url.rstrip("/")
    if base.startswith("https://"):
        return "wss://" + base[len("https://") :]
    if base.startswith("http://"):
        return "ws://" + base[len("http://") :]
    return base


def ccxt_urls(base_url: str) -> dict[str, Any]:
    """Value for ccxt's ``urls`` config key: every REST and websocket section -> the sim."""
    base = base_url.rstrip("/")
    ws = _ws_base(base)
    api: dict[str, Any] = {name: base + path for name, path in _REST_SECTIONS.items()}
    ws_urls: dict[str, Any] = {name: f"{ws}/ws" for name in _WS_SECTIONS}
    ws_urls["optionPrivate"] = f"{ws}/ws"
    ws_urls["papi"] = f"{ws}/ws"
    ws_urls["ws-api"] = {
        "spot": f"{ws}/ws-api/v3",
        "linear": f"{ws}/ws-fapi/v1",
        "inverse": f"{ws}/ws-dapi/v1",
    }
    api["ws"] = ws_urls
    return {"api": api}


def ccxt_options() -> dict[str, Any]:
    """Value for ccxt's ``options`` config key for a spot-only simulator."""
    return {
        "defaultType": "spot",
        "fetchMarkets": {"types": ["spot"]},
        "fetchMargins": False,
        "fetchCurrencies": False,
        "fetchOpenOrders": {"warnWithoutSymbol": False},
        "adjustForTimeDifference": False,
    }


def ccxt_config(
    base_url: str,
    api_key: str | None = None,
    api_secret: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Full constructor config: ``ccxt.async_support.binance(ccxt_config(url, key, secret))``.

    ``extra`` is merged on top (e.g. ``timeout=2000``, ``enableRateLimit=False``); an
    ``options`` dict in ``extra`` is merged into the simulator options.
    """
    config: dict[str, Any] = {"urls": ccxt_urls(base_url), "options": ccxt_options()}
    if api_key is not None:
        config["apiKey"] = api_key
    if api_secret is not None:
        config["secret"] = api_secret
    extra_options = extra.pop("options", None)
    if extra_options:
        config["options"].update(extra_options)
    config.update(extra)
    return config
