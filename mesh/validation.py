"""Enforces the (botmesh.rules.v1.field) rules declared in the protos.

Each message type's rules are compiled once into a list of small checks, so validating a
request costs a few attribute reads. Checks recurse into set sub-messages that have rules,
and into every item of a repeated one.

No handler sees an unbounded value: every decimal string is plain (no sign, exponent, NaN or
infinity) and fits its declared digits and magnitude, never more than the money columns hold
(DECIMAL(36, 18)); map keys and values are checked like strings.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from functools import cache
from typing import Literal, NoReturn

from botmesh.rules.v1 import rules_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from mesh.errors import InvalidArgument

Check = Callable[[Message, str], None]
# ASCII digits only ("\\d" would take other scripts' digits), split at the point.
_DECIMAL = re.compile(r"([0-9]+)(?:\.([0-9]+))?")
# What a money column holds, DECIMAL(36, 18): the bound of every decimal field.
COLUMN_INT_DIGITS = 18
COLUMN_FRAC_DIGITS = 18
# google.protobuf.Timestamp's valid range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
MIN_SECONDS = -62_135_596_800
MAX_SECONDS = 253_402_300_799
MAX_MASK_PATHS = 32
MAX_MASK_PATH_CHARS = 64


def validate(message: Message) -> None:
    """Raises InvalidArgument naming the first field that breaks its rules."""
    for check in _checks(message.DESCRIPTOR):
        check(message, "")


def _fail(path: str, description: str) -> NoReturn:
    raise InvalidArgument.for_field(path, description)


@cache
def _checks(descriptor: Descriptor) -> tuple[Check, ...]:
    checks: list[Check] = []
    for field in descriptor.fields:
        options = field.GetOptions()
        if options.HasExtension(rules_pb2.field):
            checks.extend(_field_checks(field, options.Extensions[rules_pb2.field]))
        if field.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        if _is_repeated(field):
            if not _message_type(field).GetOptions().map_entry and _checks(_message_type(field)):
                checks.append(_each(field))
            continue
        if _message_type(field).full_name == "google.protobuf.Timestamp":
            checks.append(_timestamp_check(field.name))
        elif _message_type(field).full_name == "google.protobuf.FieldMask":
            checks.append(_field_mask_check(field.name))
        elif _checks(_message_type(field)):
            checks.append(_nested(field))
    return tuple(checks)


def _message_type(field: FieldDescriptor) -> Descriptor:
    assert field.message_type is not None  # a message field's type
    return field.message_type


def _is_repeated(field: FieldDescriptor) -> bool:
    return bool(field.is_repeated)


def _nested(field: FieldDescriptor) -> Check:
    name = field.name
    sub_checks = _checks(field.message_type)

    def check(msg: Message, prefix: str) -> None:
        if msg.HasField(name):
            sub = getattr(msg, name)
            for c in sub_checks:
                c(sub, f"{prefix}{name}.")

    return check


def _each(field: FieldDescriptor) -> Check:
    """A repeated message field: every item checked, named by its index ("asks[2].principal")."""
    name = field.name
    sub_checks = _checks(field.message_type)

    def check(msg: Message, prefix: str) -> None:
        for i, sub in enumerate(getattr(msg, name)):
            for c in sub_checks:
                c(sub, f"{prefix}{name}[{i}].")

    return check


def _field_checks(field: FieldDescriptor, rules: rules_pb2.FieldRules) -> list[Check]:
    name = field.name
    checks: list[Check] = []
    repeated = _is_repeated(field)
    is_message = field.type == FieldDescriptor.TYPE_MESSAGE

    if rules.required:
        if repeated:
            checks.append(
                lambda m, p: None if len(getattr(m, name)) else _fail(p + name, "is required")
            )
        elif is_message:
            checks.append(lambda m, p: None if m.HasField(name) else _fail(p + name, "is required"))
        else:
            checks.append(lambda m, p: None if getattr(m, name) else _fail(p + name, "is required"))

    if rules.HasField("max_items"):
        limit = rules.max_items
        checks.append(
            lambda m, p: (
                None
                if len(getattr(m, name)) <= limit
                else _fail(p + name, f"has more than {limit} items")
            )
        )
    if field.type == FieldDescriptor.TYPE_STRING and not repeated:
        checks.extend(_string_checks(name, rules))
    if repeated and field.type == FieldDescriptor.TYPE_STRING:
        checks.extend(_item_checks(name, rules))
    if is_message and _message_type(field).GetOptions().map_entry:
        checks.extend(_map_checks(field, rules))
    if field.cpp_type in (FieldDescriptor.CPPTYPE_INT32, FieldDescriptor.CPPTYPE_INT64):
        checks.extend(_bound_checks(name, rules, "gte", "lte"))
    if field.cpp_type in (FieldDescriptor.CPPTYPE_DOUBLE, FieldDescriptor.CPPTYPE_FLOAT):
        checks.extend(_bound_checks(name, rules, "gte_double", "lte_double"))
    if rules.defined_enum and field.type == FieldDescriptor.TYPE_ENUM:
        assert field.enum_type is not None
        defined = frozenset(v.number for v in field.enum_type.values if v.number != 0)
        if repeated:
            checks.append(
                lambda m, p: (
                    None
                    if all(v in defined for v in getattr(m, name))
                    else _fail(p + name, "holds an unknown value")
                )
            )
        else:
            checks.append(
                lambda m, p: (
                    None
                    if getattr(m, name) in defined or getattr(m, name) == 0
                    else _fail(p + name, "is not a known value")
                )
            )
    return checks


def _string_checks(name: str, rules: rules_pb2.FieldRules) -> list[Check]:
    checks: list[Check] = []
    if rules.HasField("min_len"):
        lo = rules.min_len
        checks.append(
            lambda m, p: (
                None
                if not getattr(m, name) or len(getattr(m, name)) >= lo
                else _fail(p + name, f"must be at least {lo} characters")
            )
        )
    if rules.HasField("max_len"):
        hi = rules.max_len
        checks.append(
            lambda m, p: (
                None
                if len(getattr(m, name)) <= hi
                else _fail(p + name, f"must be at most {hi} characters")
            )
        )
    if rules.pattern:
        rx = re.compile(rules.pattern)
        checks.append(
            lambda m, p: (
                None
                if not getattr(m, name) or rx.fullmatch(getattr(m, name))
                else _fail(p + name, "has an invalid format")
            )
        )
    if rules.decimal:
        checks.append(_decimal_check(name, rules))
    return checks


def _item_checks(name: str, rules: rules_pb2.FieldRules) -> list[Check]:
    checks: list[Check] = []
    if rules.HasField("item_max_len"):
        hi = rules.item_max_len
        checks.append(
            lambda m, p: (
                None
                if all(len(v) <= hi for v in getattr(m, name))
                else _fail(p + name, f"items must be at most {hi} characters")
            )
        )
    if rules.item_pattern:
        rx = re.compile(rules.item_pattern)
        checks.append(
            lambda m, p: (
                None
                if all(rx.fullmatch(v) for v in getattr(m, name))
                else _fail(p + name, "has an item with an invalid format")
            )
        )
    return checks


def _timestamp_check(name: str) -> Check:
    """A set Timestamp is within its type's range, 0001-01-01 to 9999-12-31 UTC, so every
    conversion to a datetime succeeds (a gRPC caller may send any seconds and nanos)."""

    def check(m: Message, p: str) -> None:
        if not m.HasField(name):
            return
        stamp = getattr(m, name)
        if not (MIN_SECONDS <= stamp.seconds <= MAX_SECONDS and 0 <= stamp.nanos < 10**9):
            _fail(p + name, "must be a time from 0001-01-01 to 9999-12-31")

    return check


def _field_mask_check(name: str) -> Check:
    """A set FieldMask names a few short paths: it names fields of one message."""

    def check(m: Message, p: str) -> None:
        paths = getattr(m, name).paths
        if len(paths) > MAX_MASK_PATHS or any(len(path) > MAX_MASK_PATH_CHARS for path in paths):
            _fail(
                p + name,
                f"may name at most {MAX_MASK_PATHS} paths of {MAX_MASK_PATH_CHARS} characters",
            )

    return check


def _decimal_check(name: str, rules: rules_pb2.FieldRules) -> Check:
    """A plain non-negative decimal within its digits, its ceiling and the column's size."""
    int_digits = min(
        rules.max_int_digits if rules.HasField("max_int_digits") else COLUMN_INT_DIGITS,
        COLUMN_INT_DIGITS,
    )
    frac_digits = min(
        rules.max_frac_digits if rules.HasField("max_frac_digits") else COLUMN_FRAC_DIGITS,
        COLUMN_FRAC_DIGITS,
    )
    ceiling = Decimal(rules.max_decimal) if rules.max_decimal else None
    positive = rules.positive
    longest = int_digits + 1 + frac_digits
    shape = (
        'must be a decimal string such as "0.0015", with at most '
        f"{int_digits} digits before the point and {frac_digits} after"
    )

    def check(m: Message, p: str) -> None:
        value: str = getattr(m, name)
        if not value:
            return
        # The length bound comes first, so no regex or Decimal ever sees a huge input.
        match = _DECIMAL.fullmatch(value) if len(value) <= longest else None
        if match is None or len(match[1]) > int_digits or len(match[2] or "") > frac_digits:
            _fail(p + name, shape)
        if positive or ceiling is not None:
            number = Decimal(value)
            if positive and number <= 0:
                _fail(p + name, "must be greater than zero")
            if ceiling is not None and number > ceiling:
                _fail(p + name, f"must be at most {rules.max_decimal}")

    return check


def _map_checks(field: FieldDescriptor, rules: rules_pb2.FieldRules) -> list[Check]:
    """map<string, string>: keys by key_max_len/key_pattern, values by item_max_len/item_pattern.
    A bad key is not echoed back (it may be anything); a bad value is named by its key."""
    name = field.name
    entry = _message_type(field)
    if any(f.type != FieldDescriptor.TYPE_STRING for f in entry.fields):
        return []
    key_max = rules.key_max_len if rules.HasField("key_max_len") else None
    key_rx = re.compile(rules.key_pattern) if rules.key_pattern else None
    value_max = rules.item_max_len if rules.HasField("item_max_len") else None
    value_rx = re.compile(rules.item_pattern) if rules.item_pattern else None

    def check(m: Message, p: str) -> None:
        entries = getattr(m, name)
        for key in entries:
            if key_max is not None and len(key) > key_max:
                _fail(p + name, f"has a key longer than {key_max} characters")
            if key_rx is not None and not key_rx.fullmatch(key):
                _fail(p + name, "has a key with an invalid format")
        for key, value in entries.items():
            if value_max is not None and len(value) > value_max:
                _fail(f"{p}{name}.{key}", f"must be at most {value_max} characters")
            if value_rx is not None and not value_rx.fullmatch(value):
                _fail(f"{p}{name}.{key}", "has an invalid format")

    return [check] if key_max is not None or key_rx or value_max is not None or value_rx else []


Bound = Literal["gte", "lte", "gte_double", "lte_double"]


def _bound_checks(name: str, rules: rules_pb2.FieldRules, gte: Bound, lte: Bound) -> list[Check]:
    """Inclusive bounds, read from the rule fields named (ints and doubles have their own)."""
    checks: list[Check] = []
    if rules.HasField(gte):
        lo = getattr(rules, gte)
        checks.append(
            lambda m, p: None if getattr(m, name) >= lo else _fail(p + name, f"must be >= {lo}")
        )
    if rules.HasField(lte):
        hi = getattr(rules, lte)
        checks.append(
            lambda m, p: None if getattr(m, name) <= hi else _fail(p + name, f"must be <= {hi}")
        )
    return checks
