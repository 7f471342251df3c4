"""Values for the fuzz tests, by field type: valid ones drawn from a field's declared rules
(patterns are sampled with the stdlib's own regex parser), and boundary or hostile ones.

Everything here is driven by a seeded random.Random, so a failing run replays exactly.
"""

from __future__ import annotations

import random
import re._parser as sre
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from botmesh.rules.v1 import rules_pb2
from google.protobuf.descriptor import FieldDescriptor

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
UINT64 = (0, 2**64 - 1)

HOSTILE_STRINGS = [
    "",
    " ",
    "\t\n",
    "x" * 65,
    "y" * 1025,
    "z" * 20_000,
    "ünïcödé",
    "€😀\U0001d518",
    "\u202eevil\u202c",
    "\u0000",
    "a\u0000b",
    "\x01\x02\x1b[31m",
    "\x7f",
    "' OR '1'='1' --",
    '"; DROP TABLE bots; --',
    "../../../etc/passwd",
    "%2e%2e%2f",
    "${jndi:ldap://x/a}",
    "{{7*7}}",
    "<script>alert(1)</script>",
    "\\",
    '"',
    "null",
    "true",
    "-1",
    "0",
    "NaN",
    "Infinity",
    "1e999",
    "٣",
    "\uff10",
    "BTC-USDT",
    "btc-usdt",
    "bot_" + "9" * 60,
    "\ufeffbom",
    "\udcff",  # a lone surrogate: not encodable as UTF-8
]
HOSTILE_DECIMALS = [
    "0",
    "0.0",
    "-1",
    "-0",
    "+1",
    "1e3",
    "1E-3",
    "1e999",
    "NaN",
    "nan",
    "Infinity",
    "-Infinity",
    "sNaN",
    "1.",
    ".5",
    " 1",
    "1 ",
    "1,5",
    "1_000",
    "0x10",
    "١٢٣",
    "999999999999999999999999999999",
    "9" * 19,
    "9" * 18,
    "9" * 13,
    "0." + "0" * 17 + "1",
    "0." + "0" * 18 + "1",
    "0." + "0" * 40 + "1",
    "1" + "0" * 4300,
    "1.2.3",
    "00000000000000000000000001",
    "100000000000000",
    "1000000000000000",
    "0.00000001",
    "1.5",
]
HOSTILE_NUMBERS: list[Any] = [
    0,
    -1,
    1,
    INT32[0],
    INT32[1],
    INT32[1] + 1,
    INT32[0] - 1,
    INT64[0],
    INT64[1],
    INT64[1] + 1,
    UINT64[1],
    UINT64[1] + 1,
    10**30,
    1.5,
    -0.0,
    1e308,
    "1",
    "-1",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551616",
    "99999999999999999999999",
    "1e3",
    "1.5",
    "NaN",
    "Infinity",
    "",
    "abc",
    True,
    None,
    [],
    {},
]
HOSTILE_TIMES: list[Any] = [
    "2026-01-01T00:00:00Z",
    "1970-01-01T00:00:00Z",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999999Z",
    "10000-01-01T00:00:00Z",
    "2026-02-30T00:00:00Z",
    "2026-01-01T00:00:00+25:00",
    "2026-01-01T00:00:00",
    "2026-01-01",
    "yesterday",
    "",
    0,
    -1,
    None,
]
IDS = ["", "-", "_", "a", "x" * 64, "x" * 65, "x" * 300, "..", ".", "a/b", "a b", "é", "%", "?"]


def sample_pattern(pattern: str, rng: random.Random) -> str:
    """A string the pattern fully matches (repeats are kept short)."""
    return "".join(_emit(sre.parse(pattern), rng))


def _emit(parsed: Any, rng: random.Random) -> Iterator[str]:
    for op, arg in parsed:
        name = str(op)
        if name == "LITERAL":
            yield chr(arg)
        elif name == "IN":
            yield _one_of(arg, rng)
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            lo, hi, sub = arg
            for _ in range(rng.randint(lo, min(hi, lo + 6))):
                yield from _emit(sub, rng)
        elif name == "SUBPATTERN":
            yield from _emit(arg[-1], rng)
        elif name == "BRANCH":
            yield from _emit(rng.choice(arg[1]), rng)
        elif name == "ANY":
            yield rng.choice("aZ9_")
        elif name == "NOT_LITERAL":
            yield "a" if arg != ord("a") else "b"
        elif name != "AT":
            raise ValueError(f"cannot sample {name} in a pattern")


def _one_of(items: Any, rng: random.Random) -> str:
    negate, chars = False, []
    for op, arg in items:
        name = str(op)
        if name == "NEGATE":
            negate = True
        elif name == "LITERAL":
            chars.append(chr(arg))
        elif name == "RANGE":
            chars.extend(chr(c) for c in range(arg[0], arg[1] + 1))
        elif name == "CATEGORY":
            chars.extend({"CATEGORY_DIGIT": "0123456789", "CATEGORY_SPACE": " \t\n"}[str(arg)])
    if negate:
        return rng.choice([c for c in "abcXYZ019._-" if c not in chars])
    return rng.choice(chars)


def rules_of(field: FieldDescriptor) -> rules_pb2.FieldRules:
    options = field.GetOptions()
    if options.HasExtension(rules_pb2.field):
        return options.Extensions[rules_pb2.field]
    return rules_pb2.FieldRules()


def valid_decimal(rules: rules_pb2.FieldRules, rng: random.Random) -> str:
    """A decimal within the field's digit and magnitude rules."""
    whole = rng.choice(["0", "1", "5", "25", "250", "1000"]) if not rules.positive else "1"
    frac = rng.choice(["", "5", "05", "0015"])
    text = f"{whole}.{frac}" if frac else whole
    if rules.max_decimal and Decimal(text) > Decimal(rules.max_decimal):
        text = rules.max_decimal
    if rules.positive and Decimal(text) <= 0:
        text = "1"
    return text


def valid_string(field: FieldDescriptor, rng: random.Random) -> str:
    rules = rules_of(field)
    if rules.decimal:
        return valid_decimal(rules, rng)
    if rules.pattern:
        return sample_pattern(rules.pattern, rng)
    longest = rules.max_len if rules.HasField("max_len") else 24
    shortest = rules.min_len if rules.HasField("min_len") else 1
    size = rng.randint(shortest, max(shortest, min(longest, 24)))
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789 ") for _ in range(size))


def valid_int(field: FieldDescriptor, rng: random.Random) -> int:
    rules = rules_of(field)
    lo = rules.gte if rules.HasField("gte") else 0
    hi = rules.lte if rules.HasField("lte") else lo + 1000
    return rng.randint(lo, min(hi, lo + 1000))


def hostile_for(field: FieldDescriptor, rng: random.Random) -> Any:
    """A boundary or hostile JSON value for the field's type (not always of that type)."""
    rules = rules_of(field)
    if field.type == FieldDescriptor.TYPE_STRING:
        if rules.decimal or rng.random() < 0.15:
            return rng.choice(HOSTILE_DECIMALS)
        if rules.HasField("max_len") and rng.random() < 0.3:
            return "x" * (rules.max_len + rng.choice([0, 1]))
        return rng.choice(HOSTILE_STRINGS)
    if field.type == FieldDescriptor.TYPE_ENUM:
        assert field.enum_type is not None
        names = [v.name for v in field.enum_type.values]
        return rng.choice([0, -1, 99, INT32[1], INT32[1] + 1, "NOPE", names[-1].lower(), *names])
    if field.type == FieldDescriptor.TYPE_BOOL:
        return rng.choice([True, False, "true", 1, "yes", None, "0"])
    if field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return rng.choice([0, -1, 1e308, -1e308, 5e-324, "NaN", "Infinity", "-Infinity", "x"])
    return rng.choice(HOSTILE_NUMBERS)
