"""Bot events: the per-subscription Redis Streams (log.py), their one reader per process
(hub.py) and each StreamEvents call's view of it (listener.py)."""

from trading_svc.events.hub import EventHub
from trading_svc.events.log import EventLog

__all__ = ["EventHub", "EventLog"]
