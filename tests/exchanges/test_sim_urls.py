"""The sim venue's URL rewriting: any exchange's own URLs, every one on the sim's host with
its path kept, for REST and websockets, so no client built for the sim can leave loopback."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import ccxt
import pytest

from exchanges.sim import SIM_OPTIONS, rewrite_url, sim_config, sim_urls

SIM = "http://127.0.0.1:8090"


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list | tuple):
        return [s for item in value for s in _strings(item)]
    return []


@pytest.mark.parametrize("exchange", ccxt.exchanges)
def test_every_url_of_every_exchange_points_at_the_sim(exchange: str) -> None:
    urls = sim_urls(exchange, SIM)
    assert "api" in urls
    found = _strings(urls)
    assert found
    for url in found:
        parts = urlsplit(url)
        assert parts.hostname == "127.0.0.1" and parts.port == 8090, (exchange, url)
        assert parts.scheme in ("http", "ws"), (exchange, url)


def test_binanceus_keeps_its_own_paths_for_rest_and_websockets() -> None:
    api = sim_urls("binanceus", SIM)["api"]
    assert api["public"] == "http://127.0.0.1:8090/api/v3"
    assert api["sapi"] == "http://127.0.0.1:8090/sapi/v1"
    assert api["ws"]["spot"] == "ws://127.0.0.1:8090/ws"  # wss://stream.binance.us:9443/ws
    assert api["ws"]["ws-api"]["spot"] == "ws://127.0.0.1:8090/ws-api/v3"


def test_rewriting_keeps_path_and_query_and_maps_websocket_schemes() -> None:
    assert rewrite_url("https://api.x.com:443/v2/a?b=1", SIM) == "http://127.0.0.1:8090/v2/a?b=1"
    assert rewrite_url("wss://ws.x.com/stream", SIM) == "ws://127.0.0.1:8090/stream"
    assert rewrite_url("wss://ws.x.com/s", "https://sim.test") == "wss://sim.test/s"
    assert rewrite_url("https://{hostname}/api", SIM) == "http://127.0.0.1:8090/api"
    # A base URL with a path prefixes every path.
    assert rewrite_url("https://x.com/api/v3", "http://h:1/sim") == "http://h:1/sim/api/v3"


def test_sim_config_carries_keys_extra_settings_and_merged_options() -> None:
    config = sim_config(
        "binanceus", SIM, "key", "secret", timeout=1234, options={"recvWindow": 5000}
    )
    assert config["apiKey"] == "key" and config["secret"] == "secret"
    assert config["timeout"] == 1234
    assert config["options"] == {**SIM_OPTIONS, "recvWindow": 5000}
    # Each call gets its own copy: a client may change its config without touching the next.
    config["urls"]["api"]["public"] = "changed"
    assert sim_urls("binanceus", SIM)["api"]["public"] == "http://127.0.0.1:8090/api/v3"
