"""Fixtures for analysis_svc domain tests: seeded candles."""

from __future__ import annotations

import pytest

from analysis_svc.domain.candles import Candles
from analysis_svc.domain.synthetic import random_walk_candles


@pytest.fixture(scope="session")
def walk() -> Candles:
    return random_walk_candles(2_000, seed=7)
