"""The advisor chain from BOTMESH_LLM_ENDPOINTS.

The variable holds JSON: either a list of endpoints or a whole AdvisorConfig object, e.g.

    [{"name": "openai", "base_url": "https://api.openai.com/v1", "model": "gpt-4o-mini",
      "api_key_ref": "OPENAI_API_KEY", "timeout_s": 8},
     {"name": "local", "base_url": "http://127.0.0.1:11434/v1", "model": "llama3.1"}]

    {"endpoints": [...], "failure_threshold": 3, "cooldown_s": 30, "on_all_failed": "hold"}

Keys are never in it: `api_key_ref` names the environment variable holding each key, so the
setting itself can be logged and hashed into the decision cache key. A malformed value stops
the process at start-up rather than silently running without the advisor.
"""

from __future__ import annotations

import json

from analysis_svc.advisor.chain import Advisor
from analysis_svc.advisor.metrics import ADVISOR_METRICS
from analysis_svc.domain.advisor import AdvisorConfig


def advisor_config_from_json(text: str) -> AdvisorConfig | None:
    """None when no endpoint is configured (the default: rule-based strategies only)."""
    if not text.strip():
        return None
    try:
        data = json.loads(text)
        config = AdvisorConfig.from_dict({"endpoints": data} if isinstance(data, list) else data)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"BOTMESH_LLM_ENDPOINTS is not a valid advisor chain: {exc}") from None
    return config if config.endpoints else None


def advisor_from_json(text: str) -> Advisor | None:
    """The process's advisor, its breakers exported as metrics (advisor/metrics.py)."""
    config = advisor_config_from_json(text)
    if config is None:
        return None
    advisor = Advisor(config)
    ADVISOR_METRICS.watch(advisor)
    return advisor
