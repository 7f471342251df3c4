"""The domain raises mesh's errors, and each answers the caller as the API always has: the
status, reason, message, metadata and field violations below are what clients see."""

from __future__ import annotations

import numpy as np
import pytest
from google.rpc import code_pb2, error_details_pb2

from analysis_svc.domain.candles import Candles
from analysis_svc.domain.errors import NotEnoughCandles, UnusableCandles
from analysis_svc.domain.strategies import resolve_strategy
from analysis_svc.domain.synthetic import candles_from_closes
from mesh.errors import DomainError
from mesh.rpc_status import status_proto


def _answer(error: DomainError) -> tuple[int, str, str, dict[str, str], list[tuple[str, str]]]:
    status = status_proto(error)
    info = error_details_pb2.ErrorInfo()
    violations: list[tuple[str, str]] = []
    for detail in status.details:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            violations += [(v.field, v.description) for v in bad.field_violations]
        elif not detail.Unpack(error_details_pb2.RetryInfo()):  # an UNAVAILABLE's retry delay
            assert detail.Unpack(info)
    return status.code, status.message, info.reason, dict(info.metadata), violations


def test_unusable_exchange_candles_are_unavailable_with_a_fixed_message() -> None:
    closes = np.array([1.0, np.nan, 3.0])
    with pytest.raises(UnusableCandles) as err:
        Candles(np.arange(3, dtype=np.int64), closes, closes, closes, closes, closes)
    assert _answer(err.value) == (
        code_pb2.UNAVAILABLE,
        "market data was unusable; try again",
        "CANDLES_INVALID",
        {},
        [],
    )
    assert err.value.detail == "open has NaN or inf"  # for the logs and a backtest's row


def test_too_little_history_is_a_failed_precondition_naming_the_counts() -> None:
    bound = resolve_strategy("ma_crossover")
    with pytest.raises(NotEnoughCandles) as err:
        bound.signal(candles_from_closes([1.0, 2.0, 3.0]))
    assert _answer(err.value) == (
        code_pb2.FAILED_PRECONDITION,
        f"strategy ma_crossover needs at least {bound.min_candles} closed candles, got 3",
        "NOT_ENOUGH_CANDLES",
        {"needed": str(bound.min_candles), "got": "3"},
        [],
    )


def test_a_bad_parameter_is_invalid_argument_with_its_field() -> None:
    with pytest.raises(DomainError) as err:
        resolve_strategy("ma_crossover", {"fast": "30", "slow": "20"})
    description = "fast must be < slow"
    assert _answer(err.value) == (
        code_pb2.INVALID_ARGUMENT,
        f"strategy.params.fast: {description}",
        "INVALID_STRATEGY_PARAMETER",
        {"field": "strategy.params.fast"},
        [("strategy.params.fast", description)],
    )
