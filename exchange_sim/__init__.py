"""exchange_sim: an in-memory, Binance Spot-compatible exchange for tests and benchmarks.

Public helpers::

    from exchange_sim import SimConfig, start_sim, running_sim, AdminClient

    async with running_sim(SimConfig(seed=7)) as sim:
        admin = sim.admin()
        creds = await admin.create_account({"USDT": "10000"})
        ex = ccxt.async_support.binance(sim.ccxt_config(creds.api_key, creds.api_secret))
"""

from exchange_sim.admin import AdminAPIError, AdminClient, Credentials
from exchange_sim.app import SimServer, create_app, running_sim, start_sim
from exchange_sim.config import DEFAULT_MARKETS, MarketSpec, SimConfig
from exchange_sim.simulator import Simulator

__all__ = [
    "DEFAULT_MARKETS",
    "AdminAPIError",
    "AdminClient",
    "Credentials",
    "MarketSpec",
    "SimConfig",
    "SimServer",
    "Simulator",
    "create_app",
    "running_sim",
    "start_sim",
]
