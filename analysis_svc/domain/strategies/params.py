"""Typed, bounded strategy parameters parsed from the wire's string map.

Every strategy declares its parameters as ParamSpecs so validation, defaults, docs and
the cache key's canonical form come from one list.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mesh.errors import InvalidArgument

ParamValue = str | float | int
ParamValues = dict[str, int | float]

REASON = "INVALID_STRATEGY_PARAMETER"


def param_field(name: str) -> str:
    """Field path of a parameter in StrategySpec, for BadRequest violations."""
    return f"strategy.params.{name}"


@dataclass(frozen=True, slots=True)
class ParamSpec:
    name: str
    type: type[int] | type[float]
    default: int | float
    min: int | float
    max: int | float
    doc: str = ""

    def parse(self, raw: ParamValue) -> int | float:
        """Converts and bounds-checks one value; raises InvalidArgument naming it."""
        value = _to_int(self.name, raw) if self.type is int else _to_float(self.name, raw)
        if not self.min <= value <= self.max:
            raise InvalidArgument.for_field(
                param_field(self.name),
                f"{self.name} must be in [{self.min}, {self.max}], got {value}",
                reason=REASON,
            )
        return value


def parse_params(specs: Sequence[ParamSpec], raw: Mapping[str, ParamValue]) -> ParamValues:
    """Defaults overlaid with `raw`; unknown names, wrong types and bounds are errors."""
    by_name = {s.name: s for s in specs}
    for name in raw:
        if name not in by_name:
            known = ", ".join(sorted(by_name))
            raise InvalidArgument.for_field(
                param_field(name), f"unknown parameter {name!r} (known: {known})", reason=REASON
            )
    return {s.name: s.parse(raw[s.name]) if s.name in raw else s.default for s in specs}


def canonical_params(values: Mapping[str, int | float]) -> str:
    """Stable text of parsed parameters: "14" and 14 and "14.0" give the same key."""
    return ",".join(f"{k}={_canonical_number(v)}" for k, v in sorted(values.items()))


def _canonical_number(value: int | float) -> str:
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


def _to_int(name: str, raw: ParamValue) -> int:
    if isinstance(raw, bool):
        raise _type_error(name, "an integer", raw)
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        if math.isfinite(raw) and raw.is_integer():
            return int(raw)
        raise _type_error(name, "an integer", raw)
    if isinstance(raw, str):
        text = raw.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:  # "14.0" is an integer written as a float
            as_float = float(text)
        except ValueError:
            raise _type_error(name, "an integer", raw) from None
        if math.isfinite(as_float) and as_float.is_integer():
            return int(as_float)
    raise _type_error(name, "an integer", raw)


def _to_float(name: str, raw: ParamValue) -> float:
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise _type_error(name, "a number", raw)
    try:
        value = float(raw.strip() if isinstance(raw, str) else raw)
    except ValueError:
        raise _type_error(name, "a number", raw) from None
    if not math.isfinite(value):
        raise _type_error(name, "a finite number", raw)
    return value


def _type_error(name: str, expected: str, raw: object) -> InvalidArgument:
    return InvalidArgument.for_field(
        param_field(name), f"{name} must be {expected}, got {raw!r}", reason=REASON
    )
