"""The proto field rules are enforced before any handler runs, naming the field."""

from __future__ import annotations

import pytest
from botmesh.credential.v1 import internal_service_pb2 as admin
from botmesh.credential.v1 import marketplace_service_pb2 as api
from botmesh.trading.v1 import resources_pb2, trading_service_pb2

from mesh.errors import InvalidArgument
from mesh.validation import validate


def good_bot(**changes: object) -> api.CreateBotRequest:
    fields: dict[str, object] = {
        "name": "Trend rider",
        "strategy": "ma_crossover",
        "markets": ["BTC-USDT"],
        "timeframe": "1h",
    }
    fields.update(changes)
    return api.CreateBotRequest(**fields)  # type: ignore[arg-type]


def violation(message: object) -> tuple[str, str]:
    with pytest.raises(InvalidArgument) as caught:
        validate(message)  # type: ignore[arg-type]
    return caught.value.metadata["field"], caught.value.message


def test_a_well_formed_request_passes() -> None:
    validate(good_bot())


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 65}, "name"),
        ({"strategy": "MA Crossover"}, "strategy"),
        ({"markets": []}, "markets"),
        ({"markets": ["btc/usdt"]}, "markets"),
        ({"timeframe": "7m"}, "timeframe"),
        ({"risk_limits": {"stop_loss_pct": "-0.1"}}, "risk_limits.stop_loss_pct"),
        ({"risk_limits": {"cooldown_seconds": -1}}, "risk_limits.cooldown_seconds"),
    ],
)
def test_each_broken_rule_names_its_field(changes: dict[str, object], field: str) -> None:
    assert violation(good_bot(**changes))[0] == field


def test_page_size_is_bounded() -> None:
    assert violation(api.ListBotsRequest(page_size=101)) == (
        "page_size",
        "page_size: must be <= 100",
    )
    assert violation(api.ListBotsRequest(page_size=-1))[0] == "page_size"
    validate(api.ListBotsRequest(page_size=100))


def test_decimal_fields_take_plain_positive_decimal_strings() -> None:
    order = trading_service_pb2.PlaceOrderRequest(
        subscription_id="sub_1",
        side=resources_pb2.ORDER_SIDE_BUY,
        type=resources_pb2.ORDER_TYPE_MARKET,
        quantity="0.0015",
    )
    validate(order)
    for bad in ("0", "1e-3", "-1", "1.2.3", "abc"):
        order.quantity = bad
        assert violation(order)[0] == "quantity"


def test_enums_must_hold_defined_values() -> None:
    request = admin.CreateApiKeyRequest(name="k", scopes=[7])  # type: ignore[list-item]
    assert violation(request)[0] == "scopes"


def test_nested_messages_are_checked_only_when_set() -> None:
    validate(api.UpdateBotRequest(bot={"bot_id": "bot_1"}, update_mask={"paths": ["name"]}))
    field, _ = violation(
        api.UpdateBotRequest(
            bot={"bot_id": "bot_1", "name": "x" * 70}, update_mask={"paths": ["name"]}
        )
    )
    assert field == "bot.name"
