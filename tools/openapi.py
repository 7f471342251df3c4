"""Writes gen/openapi.json, the OpenAPI 3.1 document of the REST API Envoy serves, from the
descriptor set and the protos' google.api.http bindings. Run by tools/codegen.py (`make gen`);
never edited by hand.

It describes what Envoy does, not what protobuf could do:
- one operation per public RPC's binding; `{x}` path variables (and `{a.b}` nested ones) are
  path parameters; with `body: "*"` every other field is the JSON body (fields bound from the
  path must not repeat in it); with `body: "f"` field f is the body and the rest, like every
  field of a body-less binding, are query parameters (`a.b` for nested scalars);
- server-streaming RPCs answer `text/event-stream`: one `data: <message JSON>` event per
  message (stream_sse_style_delimited);
- authentication per the method's access rule (botmesh.rules.v1.access): an API key in
  x-api-key, with the acting principal in x-principal-id for methods that act for one; the
  streaming routes also take a dashboard token (Authorization: Bearer, x-access-token, or
  the access_token query parameter, since a browser's EventSource cannot set headers);
- every error is a google.rpc.Status JSON (code, message, details with an ErrorInfo), under
  the HTTP status the transcoder maps its gRPC code to, or Envoy's own local replies, which
  the REST guard (gateway/rest_guard.lua) rewrites into the same shape.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from botmesh.rules.v1 import rules_pb2
from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2

from gateway.contract import DESCRIPTOR_SET, load_descriptor_set, public_services
from mesh.access import MUTATING_VERBS
from mesh.idempotency import HEADER as IDEMPOTENCY_HEADER
from mesh.idempotency import MAX_KEY_LENGTH
from tools.openapi_errors import ERROR_RESPONSES, error_components, responses_for
from tools.openapi_schemas import Contract, Schemas, is_map, rules_of
from tools.openapi_security import SECURITY_SCHEMES, security_for

OUTPUT = DESCRIPTOR_SET.parent / "openapi.json"
# Fields the streaming routes read as the dashboard-token credential (a security scheme).
TOKEN_FIELD = "access_token"
_T = descriptor_pb2.FieldDescriptorProto
# Mutations honour an Idempotency-Key (mesh/idempotency.py): the same key, caller and request
# get the first call's answer, replayed.
IDEMPOTENCY_PARAMETER: dict[str, Any] = {
    "name": IDEMPOTENCY_HEADER,
    "in": "header",
    "required": False,
    "description": "Makes the call idempotent for 24 h: a retry with the same key, caller and "
    "request gets the first call's answer; another request under the key is refused (400, "
    "IDEMPOTENCY_KEY_REUSED).",
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_KEY_LENGTH,
        "pattern": "^[!-~]([ -~]*[!-~])?$",
    },
}
_VARIABLE = re.compile(r"\{([^}=]+)(=[^}]*)?\}")


def _bindings(
    fds: descriptor_pb2.FileDescriptorSet,
) -> list[tuple[str, str, descriptor_pb2.MethodDescriptorProto, http_pb2.HttpRule]]:
    """(service full name, tag, method, rule) of every public method's REST binding."""
    wanted = {s.full_name for s in public_services(fds)}
    found = []
    for file in fds.file:
        for service in file.service:
            full = f"{file.package}.{service.name}"
            if full not in wanted:
                continue
            for method in service.method:
                rule = method.options.Extensions[annotations_pb2.http]
                for one in [rule, *rule.additional_bindings]:
                    if one.WhichOneof("pattern") not in (None, "custom"):
                        found.append((full, service.name, method, one))
    return found


def _leaves(
    schemas: Schemas, type_name: str, prefix: str, depth: int = 0
) -> list[tuple[str, descriptor_pb2.FieldDescriptorProto, str]]:
    """Query-parameter leaves of a message: (dotted name, field, owner) of its scalar, enum,
    repeated scalar and well-known fields, nested messages flattened as `a.b`."""
    found = []
    for fld in schemas.contract.messages[type_name].field:
        name = f"{prefix}{fld.name}"
        if is_map(schemas.contract, fld):
            continue  # a map cannot be a query parameter
        if fld.type == _T.TYPE_MESSAGE and fld.type_name.startswith(".botmesh."):
            if fld.label != _T.LABEL_REPEATED and depth < 3:
                found.extend(_leaves(schemas, fld.type_name, f"{name}.", depth + 1))
            continue
        found.append((name, fld, type_name))
    return found


def _operation(
    schemas: Schemas,
    service: str,
    tag: str,
    method: descriptor_pb2.MethodDescriptorProto,
    rule: http_pb2.HttpRule,
) -> tuple[str, str, dict[str, Any]]:
    verb = rule.WhichOneof("pattern")
    template = getattr(rule, verb)
    bound = [m.group(1) for m in _VARIABLE.finditer(template)]
    # A nested variable {a.b} is named a_b: tools format paths with str.format, where a dot
    # reads an attribute. The name is not sent; the description names the field.
    path = _VARIABLE.sub(lambda m: "{" + m.group(1).replace(".", "_") + "}", template)
    request = method.input_type
    params: list[dict[str, Any]] = []
    leaves = {name: (fld, owner) for name, fld, owner in _leaves(schemas, request, "")}
    for name in bound:
        fld, owner = leaves[name]
        schema = schemas.field(owner, fld, "in")
        schema.pop("description", None)
        path_param: dict[str, Any] = {
            "name": name.replace(".", "_"),
            "in": "path",
            "required": True,
            "schema": schema,
        }
        if "." in name:
            path_param["description"] = f"The request's {name}."
        params.append(path_param)
    op: dict[str, Any] = {
        "operationId": method.name,
        "tags": [tag],
        "summary": f"{service}.{method.name}",
    }
    text = schemas.contract.comments.get(f".{service}.{method.name}")
    if text:
        op["description"] = text
    body_fields: set[str] = set()
    if rule.body == "*":
        top = {n.split(".")[0] for n in bound}
        direct = frozenset(n for n in bound if "." not in n)
        if top == set(direct):
            schema = (
                schemas.ref(request, "in")
                if not direct
                else schemas.message(request, "in", skip=direct)
            )
        else:
            schema = schemas.message(request, "in")
        body_fields = {f.name for f in schemas.contract.messages[request].field}
        op["requestBody"] = _body(schema, required=_has_required(schemas, request, direct))
    elif rule.body:
        fld = next(f for f in schemas.contract.messages[request].field if f.name == rule.body)
        nested = frozenset(n.split(".", 1)[1] for n in bound if n.startswith(f"{rule.body}."))
        if fld.type == _T.TYPE_MESSAGE and nested:
            schema = schemas.message(fld.type_name, "in", skip=nested)
        else:
            schema = schemas.field(request, fld, "in")
        body_fields = {rule.body}
        op["requestBody"] = _body(schema, required=rules_of(fld).required)
    for name, (fld, owner) in leaves.items():
        if name in bound or name.split(".")[0] in body_fields:
            continue
        if method.server_streaming and name == TOKEN_FIELD:
            continue  # the access_token security scheme
        schema = schemas.field(owner, fld, "in")
        param: dict[str, Any] = {"name": name, "in": "query", "schema": schema}
        if "description" in schema:
            param["description"] = schema.pop("description")
        if fld.label == _T.LABEL_REPEATED:
            param.update(style="form", explode=True)
        params.append(param)
    if verb in MUTATING_VERBS:
        params.append(IDEMPOTENCY_PARAMETER)
    if params:
        op["parameters"] = params
    op["security"] = security_for(method)
    op["x-botmesh-scopes"] = list(method.options.Extensions[rules_pb2.access].scopes)
    if method.server_streaming:
        ok = {
            "description": f"A stream of {method.output_type.lstrip('.')}: one SSE event per "
            "message, `data: <message JSON>`, until the client disconnects.",
            "content": {
                "text/event-stream": {
                    "schema": {"type": "string"},
                    "x-sse-data-schema": schemas.ref(method.output_type, "out"),
                }
            },
        }
    else:
        ok = {
            "description": "OK",
            "content": {"application/json": {"schema": schemas.ref(method.output_type, "out")}},
        }
    op["responses"] = {"200": ok, **responses_for()}
    return path, verb, op


def _has_required(schemas: Schemas, request: str, skip: frozenset[str]) -> bool:
    return any(
        rules_of(f).required for f in schemas.contract.messages[request].field if f.name not in skip
    )


def _body(schema: dict[str, Any], *, required: bool) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def _shared(contract: Contract, fds: descriptor_pb2.FileDescriptorSet) -> set[str]:
    """Messages reached both from a request and from a response."""
    methods = [m for _, _, m, _ in _bindings(fds)]

    def reach(roots: list[str]) -> set[str]:
        seen: set[str] = set()
        todo = list(roots)
        while todo:
            name = todo.pop()
            if name in seen or name not in contract.messages:
                continue
            seen.add(name)
            todo.extend(f.type_name for f in contract.messages[name].field if f.type_name)
        return seen

    return reach([m.input_type for m in methods]) & reach([m.output_type for m in methods])


def build(fds: descriptor_pb2.FileDescriptorSet) -> dict[str, Any]:
    contract = Contract.of(fds)
    schemas = Schemas(contract, _shared(contract, fds))
    paths: dict[str, dict[str, Any]] = {}
    for service, tag, method, rule in _bindings(fds):
        path, verb, op = _operation(schemas, service, tag, method, rule)
        paths.setdefault(path, {})[verb] = op
    schemas.components.update(error_components(schemas))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "botmesh REST API",
            "version": "v1",
            "description": "Generated from protos/ by tools/openapi.py: the REST face of the "
            "gRPC contract, as Envoy's transcoder serves it. Field names are the proto names "
            "(requests may also use protobuf's lowerCamelCase JSON names); 64-bit integers are "
            "strings; enums are value names. Errors are google.rpc.Status.",
        },
        "servers": [{"url": "/"}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.components.items())),
            "responses": ERROR_RESPONSES,
            "securitySchemes": SECURITY_SCHEMES,
        },
    }


def write(descriptor_set: Path = DESCRIPTOR_SET, output: Path = OUTPUT) -> Path:
    document = build(load_descriptor_set(descriptor_set))
    output.write_text(json.dumps(document, indent=2) + "\n")
    return output


def main() -> int:
    out = write()
    print(f"generated {out.relative_to(out.parent.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
