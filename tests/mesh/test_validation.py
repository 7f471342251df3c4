"""The proto field rules are enforced before any handler runs, naming the field."""

from __future__ import annotations

import pytest
from botmesh.credential.v1 import internal_service_pb2 as admin
from botmesh.credential.v1 import marketplace_service_pb2 as api
from botmesh.rules.v1 import rules_pb2
from botmesh.trading.v1 import resources_pb2, trading_service_pb2

from gateway.contract import load_descriptor_set
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


def test_each_item_of_a_repeated_message_is_checked_and_named_by_its_index() -> None:
    def ask(sid: str = "sub_1", principal: str = "2vxsx-fae") -> admin.OwnedSubscriptionAsk:
        return admin.OwnedSubscriptionAsk(subscription_id=sid, principal=principal)

    validate(admin.BatchGetOwnedSubscriptionsRequest(asks=[ask(), ask("sub_2")]))
    for wrong, field in (
        (ask("bad id!"), "asks[1].subscription_id"),
        (ask(principal=""), "asks[1].principal"),
        (ask(principal="NOT-A-PRINCIPAL"), "asks[1].principal"),
    ):
        request = admin.BatchGetOwnedSubscriptionsRequest(asks=[ask(), wrong])
        assert violation(request)[0] == field
    assert violation(admin.BatchGetOwnedSubscriptionsRequest())[0] == "asks"
    too_many = admin.BatchGetOwnedSubscriptionsRequest(asks=[ask()] * 501)
    assert violation(too_many)[0] == "asks"


def order(**changes: object) -> trading_service_pb2.PlaceOrderRequest:
    fields: dict[str, object] = {
        "subscription_id": "sub_1",
        "side": resources_pb2.ORDER_SIDE_BUY,
        "type": resources_pb2.ORDER_TYPE_LIMIT,
        "quantity": "0.0015",
        "price": "61000.5",
    }
    fields.update(changes)
    return trading_service_pb2.PlaceOrderRequest(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "quantity",
    [
        "999999999999999999999999999999",  # the reproduced 500: now refused before any handler
        "1" + "0" * 12,  # 13 digits before the point, the rule allows 12
        "0." + "0" * 18 + "1",  # 19 after, the column holds 18
        "1" + "0" * 5000,  # refused on length, before any regex or Decimal sees it
        "NaN",
        "Infinity",
        "1e999",
        "+1",
        "\u0661",  # a digit, but not an ASCII one
        "1.",
        ".5",
    ],
)
def test_decimals_are_bounded_in_digits(quantity: str) -> None:
    assert violation(order(quantity=quantity))[0] == "quantity"


def test_decimals_at_their_bounds_pass() -> None:
    validate(order(quantity="9" * 12 + "." + "9" * 18, price="1" + "0" * 11))


def test_a_decimal_ceiling_is_inclusive() -> None:
    validate(good_bot(risk_limits={"stop_loss_pct": "1", "take_profit_pct": "100"}))
    assert violation(good_bot(risk_limits={"stop_loss_pct": "1.00000001"})) == (
        "risk_limits.stop_loss_pct",
        "risk_limits.stop_loss_pct: must be at most 1",
    )
    assert violation(good_bot(risk_limits={"take_profit_pct": "100.5"}))[0] == (
        "risk_limits.take_profit_pct"
    )


def test_every_decimal_field_fits_the_money_column_without_its_own_bounds() -> None:
    # daily_loss_limit declares 15 digits; a field with only `decimal` still gets 18.
    assert violation(good_bot(risk_limits={"daily_loss_limit": "1" + "0" * 15}))[0] == (
        "risk_limits.daily_loss_limit"
    )
    validate(good_bot(risk_limits={"daily_loss_limit": "9" * 15 + ".12345678"}))


def test_every_decimal_field_declares_its_bounds() -> None:
    """No decimal field of the contract relies on the column default alone."""
    unbounded, decimals = [], 0
    for file in load_descriptor_set().file:
        for message in file.message_type:
            for field in message.field:
                rules = field.options.Extensions[rules_pb2.field]
                has_bound = rules.HasField("max_int_digits") or rules.max_decimal
                decimals += rules.decimal
                if rules.decimal and not (has_bound and rules.HasField("max_frac_digits")):
                    unbounded.append(f"{message.name}.{field.name}")
    assert decimals >= 10 and unbounded == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({f"p{i}": "1" for i in range(33)}, "strategy_params"),  # more than 32 entries
        ({"x" * 33: "1"}, "strategy_params"),  # a key longer than 32
        ({"Fast": "1"}, "strategy_params"),  # not snake_case
        ({"": "1"}, "strategy_params"),
        ({"fast": "9" * 16}, "strategy_params.fast"),  # a value past its digits
        ({"fast": "1e3"}, "strategy_params.fast"),
        ({"fast": "NaN"}, "strategy_params.fast"),
        ({"fast": ""}, "strategy_params.fast"),
        ({"fast": "x" * 33}, "strategy_params.fast"),
    ],
)
def test_strategy_params_are_bounded_in_entries_keys_and_values(
    params: dict[str, str], field: str
) -> None:
    assert violation(good_bot(strategy_params=params))[0] == field


def test_a_bad_map_key_is_not_echoed_back() -> None:
    _, message = violation(good_bot(strategy_params={"<script>": "1"}))
    assert "<script>" not in message


def test_good_strategy_params_pass() -> None:
    validate(good_bot(strategy_params={"fast": "9", "slow": "21", "nbdev": "-2.5"}))


@pytest.mark.parametrize(
    "after", ["99999999999999999999999", "1-99999999999999999999", "01", "1-", "-1", "1 ", "x"]
)
def test_the_events_cursor_is_a_64_bit_stream_id(after: str) -> None:
    request = trading_service_pb2.StreamEventsRequest(subscription_id="sub_1", after=after)
    assert violation(request)[0] == "after"


@pytest.mark.parametrize("after", ["0", "0-0", "1700000000000-3", "9" * 19 + "-" + "9" * 19])
def test_real_event_ids_pass(after: str) -> None:
    validate(trading_service_pb2.StreamEventsRequest(subscription_id="sub_1", after=after))


@pytest.mark.parametrize(
    ("seconds", "nanos"),
    [(253_402_300_800, 0), (-62_135_596_801, 0), (2**62, 0), (0, -1), (0, 10**9)],
)
def test_timestamps_are_within_their_type_range(seconds: int, nanos: int) -> None:
    from botmesh.trading.v1 import market_data_service_pb2

    request = market_data_service_pb2.ListCandlesRequest(market="BTC-USDT", timeframe="1h")
    request.start_time.seconds, request.start_time.nanos = seconds, nanos
    assert violation(request)[0] == "start_time"
    request.start_time.seconds, request.start_time.nanos = 253_402_300_799, 999_999_999
    validate(request)


def test_an_update_mask_names_a_few_short_paths() -> None:
    many = api.UpdateBotRequest(bot={"bot_id": "bot_1"}, update_mask={"paths": ["name"] * 33})
    assert violation(many)[0] == "update_mask"
    long = api.UpdateBotRequest(bot={"bot_id": "bot_1"}, update_mask={"paths": ["n" * 65]})
    assert violation(long)[0] == "update_mask"
    validate(api.UpdateBotRequest(bot={"bot_id": "bot_1"}, update_mask={"paths": ["name"] * 32}))
