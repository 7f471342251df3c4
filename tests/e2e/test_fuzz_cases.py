"""The fuzz generator itself, without the mesh: its "valid" requests are valid messages,
including a oneof (a bot's stake) with one mode at most, so the fuzz tests' broken fields
are the only thing wrong with a case."""

from __future__ import annotations

import random

from botmesh.credential.v1 import marketplace_service_pb2 as api
from google.protobuf import json_format, message_factory

from tests.e2e.fuzz_cases import World, public_rpcs, valid_message


def test_every_valid_request_parses_as_its_message() -> None:
    rng = random.Random(7)
    for rpc in public_rpcs():
        message_class = message_factory.GetMessageClass(rpc.input)
        for _ in range(20):
            json_format.ParseDict(valid_message(rpc.input, World(), rng), message_class())


def test_a_stake_chooses_one_mode_at_most_and_both_modes_occur() -> None:
    rng = random.Random(11)
    modes = []
    for _ in range(400):
        body = valid_message(api.CreateBotRequest.DESCRIPTOR, World(), rng)
        stake = body.get("stake")
        if stake is not None:
            assert len(stake) <= 1, stake
            modes.extend(stake)
            request = json_format.ParseDict(body, api.CreateBotRequest())
            assert request.HasField("stake")
    assert {"fixed_quote", "allocation_fraction"} <= set(modes)
