"""The LLM advisor chain and what wires it: the endpoint calls, the per-key budget, the
setting. Its pure parts (config, prompt, schema, clamps, breaker) are in domain/advisor/."""
