"""Access rules of methods, read from the (botmesh.rules.v1.access) option in the protos, so
the contract says who may call what and no service can forget to check."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from botmesh.rules.v1 import rules_pb2
from google.api import annotations_pb2
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.message import Message


@dataclass(frozen=True)
class Access:
    scopes: frozenset[str]
    principal: bool
    internal: bool
    dashboard_token: bool


# A method without an access option is refused to everyone.
DENY_ALL = Access(scopes=frozenset(), principal=False, internal=True, dashboard_token=False)


def access_for(full_method: str) -> Access | None:
    """The rule for "/pkg.Service/Method"; None for methods outside our contract (health,
    reflection), which are open like any gRPC infrastructure service. A method the process
    does not know (its module not imported) is denied, and not remembered."""
    service, _, method = full_method.lstrip("/").partition("/")
    if not service.startswith("botmesh."):
        return None
    try:
        return _known_access(f"{service}.{method}")
    except KeyError:
        return DENY_ALL


@cache
def _known_access(full_name: str) -> Access:
    desc = descriptor_pool.Default().FindMethodByName(full_name)
    options = desc.GetOptions()
    if not options.HasExtension(rules_pb2.access):
        return DENY_ALL
    rule = options.Extensions[rules_pb2.access]
    return Access(
        scopes=frozenset(rule.scopes),
        principal=rule.principal,
        internal=rule.internal,
        dashboard_token=rule.dashboard_token,
    )


# REST verbs whose calls honour Idempotency-Key (and gRPC's idempotency-key metadata).
MUTATING_VERBS = frozenset({"post", "delete", "patch"})


def is_mutation(full_method: str) -> bool:
    """Whether the method's REST binding is a POST, DELETE or PATCH."""
    try:
        desc = descriptor_pool.Default().FindMethodByName(full_method.lstrip("/").replace("/", "."))
    except KeyError:
        return False
    rule = desc.GetOptions().Extensions[annotations_pb2.http]
    return rule.WhichOneof("pattern") in MUTATING_VERBS


def response_class(full_method: str) -> type[Message]:
    desc = descriptor_pool.Default().FindMethodByName(full_method.lstrip("/").replace("/", "."))
    return message_factory.GetMessageClass(desc.output_type)
