"""gRPC fuzz requests: protobuf bytes of a valid request with fields set to type-correct
extremes JSON cannot carry (unknown enum numbers, int64 bounds, out-of-range timestamps,
huge repeated fields), and raw junk that is not a valid message at all."""

from __future__ import annotations

import random
from typing import Any

from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from tests.e2e.fuzz_cases import Rpc, World, valid_message
from tests.e2e.fuzz_values import HOSTILE_DECIMALS, HOSTILE_STRINGS, INT32, INT64, UINT64

_T = FieldDescriptor


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


STRINGS = [s for s in HOSTILE_STRINGS + HOSTILE_DECIMALS if _encodable(s)]
JUNK: list[bytes] = [
    b"\xff" * 7,
    b"\x0a\x02\xff\xfe",  # field 1, a string that is not UTF-8
    b"\x0a\xff\xff\xff\xff\x0f",  # field 1, a length past the end
    b"\x08" + b"\xff" * 11,  # a varint of 11 bytes
    b"\x07",  # wire type 7 does not exist
    b"\xfa\x3e\x03abc",  # unknown field 999: ignored, the rest is an empty request
    b"\x12",
]


def grpc_request(rpc: Rpc, world: World, rng: random.Random) -> bytes:
    if rng.random() < 0.1:
        junk = rng.choice(JUNK)
        return junk if rng.random() < 0.7 else _message(rpc, world, rng).SerializeToString() + junk
    message = _message(rpc, world, rng)
    fields = list(rpc.input.fields)
    if fields and rng.random() > 0.25:
        for fd in rng.sample(fields, min(len(fields), rng.choice([1, 1, 2, 3]))):
            _set_extreme(message, fd, rng, depth=0)
    return message.SerializeToString()


def _message(rpc: Rpc, world: World, rng: random.Random) -> Message:
    message = message_factory.GetMessageClass(rpc.input)()
    try:
        json_format.ParseDict(valid_message(rpc.input, world, rng), message)
    except json_format.ParseError:
        message.Clear()
    return message


def _set_extreme(message: Message, fd: FieldDescriptor, rng: random.Random, depth: int) -> None:
    if fd.type == _T.TYPE_MESSAGE:
        target = getattr(message, fd.name)
        if fd.message_type.GetOptions().map_entry:
            size = rng.choice([1, 33, 3000])
            value = rng.choice(STRINGS)
            for i in range(size):
                target[f"k{i}" if rng.random() < 0.9 else rng.choice(STRINGS)] = value
            return
        if fd.is_repeated:
            for _ in range(rng.choice([1, 40])):
                _fill(target.add(), rng, depth + 1)
            return
        _fill(target, rng, depth + 1)
        return
    values = [_extreme(fd, rng) for _ in range(rng.choice([1, 1, 33, 3000]))]
    if fd.is_repeated:
        getattr(message, fd.name).extend(values)
    else:
        setattr(message, fd.name, values[0])


def _fill(message: Message, rng: random.Random, depth: int) -> None:
    name = message.DESCRIPTOR.full_name
    if name == "google.protobuf.Timestamp":
        message.seconds = rng.choice([-(2**62), 2**62, 253_402_300_800, -62_135_596_801, 0])  # type: ignore[attr-defined]
        message.nanos = rng.choice([-1, 10**9, INT32[1], 0])  # type: ignore[attr-defined]
        return
    fields = list(message.DESCRIPTOR.fields)
    if fields and depth < 3:
        _set_extreme(message, rng.choice(fields), rng, depth)


def _extreme(fd: FieldDescriptor, rng: random.Random) -> Any:
    if fd.type == _T.TYPE_STRING:
        return rng.choice(STRINGS)
    if fd.type == _T.TYPE_BYTES:
        return rng.randbytes(rng.choice([0, 16, 5000]))
    if fd.type == _T.TYPE_BOOL:
        return rng.random() < 0.5
    if fd.type in (_T.TYPE_DOUBLE, _T.TYPE_FLOAT):
        return rng.choice([float("nan"), float("inf"), -float("inf"), 1e308, -0.0, 5e-324])
    if fd.type == _T.TYPE_ENUM:
        return rng.choice([-1, 99, *INT32])
    if fd.type in (_T.TYPE_INT32, _T.TYPE_SINT32, _T.TYPE_SFIXED32):
        return rng.choice([-1, 0, *INT32])
    if fd.type in (_T.TYPE_UINT32, _T.TYPE_FIXED32):
        return rng.choice([0, 2**32 - 1])
    if fd.type in (_T.TYPE_UINT64, _T.TYPE_FIXED64):
        return rng.choice([0, *UINT64])
    return rng.choice([-1, 0, *INT64])
