"""The scope table is the one list, and it maps the proto enum both ways, value for value."""

from __future__ import annotations

from botmesh.credential.v1 import resources_pb2 as pb

from mesh.scopes import PB_TO_SCOPE, SCOPE_TO_PB, SCOPES


def test_every_enum_scope_has_one_name_and_back() -> None:
    enum = pb.ApiKeyScope.DESCRIPTOR
    values = {v.number for v in enum.values if v.number != pb.API_KEY_SCOPE_UNSPECIFIED}
    assert set(PB_TO_SCOPE) == values
    assert {PB_TO_SCOPE[SCOPE_TO_PB[name]] for name in SCOPES} == set(SCOPES)
    assert len(SCOPES) == len(values)
