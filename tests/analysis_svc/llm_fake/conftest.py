"""Fixtures for the fake LLM's own tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from analysis_svc.llm_fake import FakeLLM, start_fake_llm


@pytest.fixture
async def server() -> AsyncIterator[FakeLLM]:
    fake = await start_fake_llm()
    yield fake
    await fake.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session
