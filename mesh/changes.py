"""Names of the Redis streams that carry committed changes from one service to another.

The subscription-change stream is written by credential_svc after each commit (one entry per
subscription change, with the subscription's credential id, state and state reason) and
followed by every trading_svc process, which drops its exchange clients of a credential as
soon as a subscription using it stops.
"""

from __future__ import annotations

SUBSCRIPTION_CHANGES = "botmesh:subscription-changes"
