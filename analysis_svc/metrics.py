"""Prometheus metrics of analysis: how decisions are served and what the advisor did.

The decision cache is the point of the service's design (a thousand bots, one computation),
so its hit ratio is the number an operator watches; advisor outcomes show a degraded LLM
chain (fallbacks rising) long before anyone reads the logs.
"""

from __future__ import annotations

from prometheus_client import Counter

DECISIONS_SERVED = Counter(
    "botmesh_analysis_decisions_served_total",
    "Analyze answers by source: computed here, or a decision from this process or Redis",
    ["source"],
)
DECISIONS_COMPUTED = Counter(
    "botmesh_analysis_decisions_computed_total",
    "Decisions computed, by advisor outcome (ADVISOR_NOT_REQUESTED without the advisor)",
    ["outcome"],
)
SERVED_LOCAL = DECISIONS_SERVED.labels("process")
SERVED_SHARED = DECISIONS_SERVED.labels("cluster")
SERVED_COMPUTED = DECISIONS_SERVED.labels("computed")
