"""A local OpenAI-compatible server with scripted behaviours, for tests."""

from analysis_svc.llm_fake.behaviours import Behaviour
from analysis_svc.llm_fake.server import FakeLLM, start_fake_llm

__all__ = ["Behaviour", "FakeLLM", "start_fake_llm"]
