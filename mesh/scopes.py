"""API-key scopes: the one list, and its mapping to the proto enum `ApiKeyScope`.

Keys store and check scopes by name; the admin API and the CLI speak the enum. Both read this
module, so a scope is added in one place (and in the proto enum, which a test holds to this
table). The CLI imports it without importing a service.
"""

from __future__ import annotations

from botmesh.credential.v1 import resources_pb2 as pb

SCOPE_TO_PB = {
    "admin": pb.API_KEY_SCOPE_ADMIN,
    "bots:write": pb.API_KEY_SCOPE_BOTS_WRITE,
    "marketplace": pb.API_KEY_SCOPE_MARKETPLACE,
    "read": pb.API_KEY_SCOPE_READ,
}
PB_TO_SCOPE = {v: k for k, v in SCOPE_TO_PB.items()}
SCOPES = tuple(SCOPE_TO_PB)
