"""Fuzz cases generated from the contract: every public RPC (a public service's method, read
from the descriptor set as gateway/contract.py reads it), its REST binding and its request
fields with their declared rules.

A case starts from a request that keeps every rule (real ids and markets where the field
names one, so it gets past validation into the handlers), then breaks a few fields with
boundary or hostile values; some cases are raw junk bodies.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import botmesh.analysis.v1.analysis_service_pb2
import botmesh.credential.v1.credential_service_pb2
import botmesh.credential.v1.marketplace_service_pb2
import botmesh.credential.v1.subscription_service_pb2
import botmesh.trading.v1.market_data_service_pb2
import botmesh.trading.v1.trading_service_pb2  # noqa: F401  (registers the descriptors)
from botmesh.rules.v1 import rules_pb2
from google.api import annotations_pb2
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor

from gateway.contract import load_descriptor_set, public_services
from tests.e2e.fuzz_values import (
    HOSTILE_TIMES,
    IDS,
    hostile_for,
    rules_of,
    sample_pattern,
    valid_int,
    valid_string,
)

_T = FieldDescriptor
MAX_BODY_BYTES = 80 * 1024
AMOUNTS = {
    "quantity": ("0.001", "0.0005", "0.002"),
    "price": ("50000", "1000.5"),
    "allocation": ("100", "250.5"),
}


@dataclass(frozen=True)
class Rpc:
    full_name: str  # botmesh.credential.v1.MarketplaceService.CreateBot
    path: str  # /botmesh.credential.v1.MarketplaceService/CreateBot
    input: Descriptor
    verb: str  # get, post, patch, delete
    template: str
    body: str  # "", "*" or a field name
    scopes: tuple[str, ...]
    principal: bool
    streaming: bool

    @property
    def name(self) -> str:
        return self.full_name.rsplit(".", 1)[-1]


def public_rpcs() -> list[Rpc]:
    pool = descriptor_pool.Default()
    found = []
    for service in public_services(load_descriptor_set()):
        for method in pool.FindServiceByName(service.full_name).methods:
            found.append(_rpc(service.full_name, method))
    return found


def _rpc(service: str, method: MethodDescriptor) -> Rpc:
    options = method.GetOptions()
    http = options.Extensions[annotations_pb2.http]
    verb = http.WhichOneof("pattern") or ""
    access = options.Extensions[rules_pb2.access]
    return Rpc(
        full_name=f"{service}.{method.name}",
        path=f"/{service}/{method.name}",
        input=method.input_type,
        verb=verb,
        template=getattr(http, verb) if verb else "",
        body=http.body,
        scopes=tuple(access.scopes),
        principal=access.principal,
        streaming=method.server_streaming,
    )


@dataclass
class World:
    """Real objects of the fuzzing principal, so valid-looking ids name things that exist."""

    ids: dict[str, list[str]] = field(default_factory=dict)
    strategies: tuple[str, ...] = ("ma_crossover", "rsi_mean_reversion", "macd_cross")
    markets: tuple[str, ...] = ("BTC-USDT", "ETH-USDT")

    def hint(self, fd: FieldDescriptor, rng: random.Random) -> Any:
        """A real value for a field whose name says what it holds, else None."""
        if self.ids.get(fd.name):
            return rng.choice(self.ids[fd.name])
        if fd.name in ("market", "markets"):
            return rng.choice(self.markets)
        if fd.type == _T.TYPE_STRING and (
            fd.name == "strategy" or fd.full_name.endswith("StrategySpec.name")
        ):
            return rng.choice(self.strategies)
        if fd.name in AMOUNTS:  # small enough for the principal's allocation and funds
            return rng.choice(AMOUNTS[fd.name])
        if fd.name == "ledger":
            return "ryjl3-tyaaa-aaaaa-aaaba-cai"
        if fd.name == "exchange":
            return "binance"
        if fd.name in ("start_time", "end_time"):
            end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
            when = end - timedelta(days=1) if fd.name == "start_time" else end
            return when.isoformat().replace("+00:00", "Z")
        return None


def valid_value(fd: FieldDescriptor, world: World, rng: random.Random, depth: int = 0) -> Any:
    """A JSON value that keeps the field's rules."""
    hinted = world.hint(fd, rng) if rng.random() < 0.85 else None
    if fd.is_repeated and not _is_map(fd):
        return [_valid_scalar(fd, world, rng, depth, hinted) for _ in range(rng.randint(1, 2))]
    if _is_map(fd):
        rules = rules_of(fd)
        key_rx = rules.key_pattern or "^[a-z]{1,8}$"
        value_rx = rules.item_pattern or "^[a-z0-9]{1,8}$"
        return {sample_pattern(key_rx, rng): sample_pattern(value_rx, rng) for _ in range(2)}
    return _valid_scalar(fd, world, rng, depth, hinted)


def _valid_scalar(
    fd: FieldDescriptor, world: World, rng: random.Random, depth: int, hinted: Any
) -> Any:
    if hinted is not None:
        return hinted
    if fd.type == _T.TYPE_MESSAGE:
        return _valid_message_value(fd, world, rng, depth)
    if fd.type == _T.TYPE_STRING:
        rules = rules_of(fd)
        if rules.item_pattern:
            return sample_pattern(rules.item_pattern, rng)
        return valid_string(fd, rng)
    if fd.type == _T.TYPE_ENUM:
        assert fd.enum_type is not None
        return rng.choice([v.name for v in fd.enum_type.values if v.number != 0])
    if fd.type == _T.TYPE_BOOL:
        return rng.random() < 0.5
    if fd.type in (_T.TYPE_DOUBLE, _T.TYPE_FLOAT):
        return round(rng.random(), 3)
    value = valid_int(fd, rng)
    return str(value) if fd.type in (_T.TYPE_INT64, _T.TYPE_UINT64, _T.TYPE_SINT64) else value


def _valid_message_value(fd: FieldDescriptor, world: World, rng: random.Random, depth: int) -> Any:
    name = fd.message_type.full_name
    if name == "google.protobuf.Timestamp":
        return world.hint(fd, rng) or "2026-01-01T00:00:00Z"
    if name == "google.protobuf.FieldMask":
        target = fd.containing_type.fields_by_name.get("bot")
        fields = target.message_type.fields if target else []
        # Fields a caller sets: not ids or server times.
        names = [f.name for f in fields if not f.name.endswith(("_id", "_time"))] or ["name"]
        chosen = rng.sample(names, rng.randint(1, 2))
        # JSON writes FieldMask paths in lowerCamelCase.
        return ",".join(re.sub(r"_([a-z])", lambda m: m[1].upper(), n) for n in chosen)
    return valid_message(fd.message_type, world, rng, depth + 1)


def valid_message(
    desc: Descriptor, world: World, rng: random.Random, depth: int = 0
) -> dict[str, Any]:
    """Each field with its rules kept; of a oneof (Stake's mode), one member at most, since
    a second is no valid message (JSON parsers and the transcoder refuse it)."""
    out: dict[str, Any] = {}
    chosen: set[str] = set()
    for fd in desc.fields:
        if depth > 3 and fd.type == _T.TYPE_MESSAGE:
            continue
        oneof = fd.containing_oneof
        if oneof is not None and oneof.full_name in chosen:
            continue
        rules = rules_of(fd)
        if rules.required or rules.gte > 0 or rng.random() < 0.5:
            out[fd.name] = valid_value(fd, world, rng, depth)
            if oneof is not None:
                chosen.add(oneof.full_name)
    return out


def hostile_value(fd: FieldDescriptor, world: World, rng: random.Random) -> Any:
    """A value that breaks the field's rules or type, or strains the server."""
    roll = rng.random()
    if _is_map(fd):
        return rng.choice(
            [
                {f"k{i}": "1" for i in range(rng.choice([33, 500]))},
                {"": "1"},
                {"x" * 300: "1"},
                {"fast": "9" * 40},
                {"fast": "NaN", "slow": "-1e999"},
                {"ключ": "\u0000"},
                {"fast": 5},
                {"fast": None},
                [],
                "fast=5",
            ]
        )
    if fd.is_repeated and roll < 0.5:
        item = hostile_for(fd, rng) if fd.type != _T.TYPE_MESSAGE else {}
        # Past the 64 KiB limit at most a little: Envoy answers an oversize body early and
        # closes, and a client still sending megabytes may lose that answer to a reset.
        many = min(rng.choice([33, 2000]), MAX_BODY_BYTES // max(1, len(json.dumps(item))))
        return rng.choice([[], [item], [item] * many, [None], item])
    if fd.type == _T.TYPE_MESSAGE:
        name = fd.message_type.full_name
        if name == "google.protobuf.Timestamp":
            return rng.choice(HOSTILE_TIMES)
        if name == "google.protobuf.FieldMask":
            return rng.choice(
                ["", "nope", "bot_id", "a.b.c", "name," * 500, "risk_limits.stop_loss_pct", 5]
            )
        if roll < 0.4:
            return rng.choice([None, [], "x", 7, {"nope": 1}])
        inner = valid_message(fd.message_type, world, rng, 1)
        fields = list(fd.message_type.fields)
        if fields:
            victim = rng.choice(fields)
            inner[victim.name] = hostile_value(victim, world, rng)
        return inner
    return hostile_for(fd, rng)


def _is_map(fd: FieldDescriptor) -> bool:
    return fd.type == _T.TYPE_MESSAGE and fd.message_type.GetOptions().map_entry


def request_dict(rpc: Rpc, world: World, rng: random.Random) -> dict[str, Any]:
    """A valid request, then one to three fields broken (none in one case out of four)."""
    body = valid_message(rpc.input, world, rng)
    fields = list(rpc.input.fields)
    if fields and rng.random() > 0.25:
        for fd in rng.sample(fields, min(len(fields), rng.choice([1, 1, 2, 3]))):
            body[fd.name] = hostile_value(fd, world, rng)
    if rng.random() < 0.05:
        body[rng.choice(["nope", "bot_idd", "__proto__", "x" * 200])] = 1
    return body


_PARAM = re.compile(r"\{([^}=]+)(?:=[^}]*)?\}")


@dataclass
class RestRequest:
    method: str
    url: str
    body: bytes | None


def rest_request(rpc: Rpc, request: dict[str, Any], rng: random.Random) -> RestRequest:
    """The REST form of a request: path parameters from the template, the rest as the JSON
    body or the query string."""
    values = json.loads(json.dumps(request, default=str))

    def fill(match: re.Match[str]) -> str:
        dotted = match.group(1)
        head, _, tail = dotted.partition(".")
        holder = values.get(head) if tail else values
        if tail and not isinstance(holder, dict):
            return quote(rng.choice(IDS) or "x", safe="", errors="surrogatepass")
        value = holder.pop(tail or head, None) if isinstance(holder, dict) else None
        if value is None or rng.random() < 0.1:
            value = rng.choice(IDS)
        text = value if isinstance(value, str) else json.dumps(value)
        return quote(text, safe="", errors="surrogatepass") or "%20"

    path = _PARAM.sub(fill, rpc.template)
    if rpc.body == "*":
        return RestRequest(rpc.verb.upper(), path, _json_bytes(values, rng))
    if rpc.body:
        return RestRequest(rpc.verb.upper(), path, _json_bytes(values.get(rpc.body, {}), rng))
    query = []
    for key, value in _flatten(values):
        query.append(f"{quote(key, safe='.')}={quote(value, safe='', errors='surrogatepass')}")
    return RestRequest(rpc.verb.upper(), path + ("?" + "&".join(query) if query else ""), None)


def _flatten(values: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for key, value in values.items():
        if isinstance(value, dict):
            out.extend(_flatten(value, f"{prefix}{key}."))
        elif isinstance(value, list):
            out.extend((prefix + key, _text(v)) for v in value[:50])
        elif value is not None:
            out.append((prefix + key, _text(value)))
    return out


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)


JUNK_BODIES = [
    b"",
    b"{",
    b"[]",
    b"null",
    b'"x"',
    b"{}}",
    b'{"a":}',
    b"\xff\xfe\x00",
    b"\xef\xbb\xbf{}",
    b"[" * 5000 + b"]" * 5000,
    b'{"x":' * 3000 + b"1" + b"}" * 3000,
    b'{"page_size": 1e999999}',
    b'{"a": NaN}',
    b'{"a": 1, "a": 2}',
    b"{" + b'"k":1,' * 5000 + b'"z":1}',
]


def _json_bytes(values: Any, rng: random.Random) -> bytes:
    if rng.random() < 0.04:
        return rng.choice(JUNK_BODIES)
    text = json.dumps(values, ensure_ascii=rng.random() < 0.5)
    try:
        return text.encode()
    except UnicodeEncodeError:  # a lone surrogate: send the escaped form
        return json.dumps(values, ensure_ascii=True).encode()
