"""Names of the Redis streams that carry committed changes from one service to another.

The subscription-change stream is written by credential_svc through a transactional outbox
(one entry per committed subscription change, exactly once, in each subscription's order,
with the subscription's credential id, state, state reason and version; the contract is in
credential_svc/subscriptions/events.py) and followed by every trading_svc process, which
drops its exchange clients of a credential as soon as a subscription using it stops.
"""

from __future__ import annotations

SUBSCRIPTION_CHANGES = "botmesh:subscription-changes"
