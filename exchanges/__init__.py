"""Exchange access through ccxt, for every service: one place that knows exchanges.

- clients.py: ccxt and ccxt.pro clients for an exchange id on a venue ("live" or "sim").
- sim.py: the sim venue, any exchange's own ccxt class pointed at exchange_sim.
- capabilities.py: what trading here needs, and FAILED_PRECONDITION naming what is lacking.
- permissions.py: what an API key may do, one reader per exchange family.
- symbols.py, markets.py: `BTC-USDT` <-> `BTC/USDT`, and a market's order filters.
- errors.py: ccxt's exceptions as our domain errors (never passing a ccxt message on).

Imports only ccxt, the standard library and `mesh`; never a service, never exchange_sim.
"""
