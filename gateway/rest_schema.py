"""Generates the REST guard's Lua tables from the descriptor set: for each REST binding its
verb, a path pattern and the message its JSON body must fit; and for each message the JSON
names of its fields (both the proto and the lowerCamel names, as the transcoder accepts)."""

from __future__ import annotations

import re

from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2

from gateway.contract import PublicService

# Well-known types whose JSON form is a string or free-form value.
_OPAQUE = {
    ".google.protobuf.Timestamp",
    ".google.protobuf.Duration",
    ".google.protobuf.FieldMask",
    ".google.protobuf.Struct",
    ".google.protobuf.Value",
    ".google.protobuf.ListValue",
    ".google.protobuf.Any",
}
_T = descriptor_pb2.FieldDescriptorProto


def _lua_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _path_pattern(template: str) -> str:
    """A Lua pattern for a google.api.http path template."""
    out = []
    for part in re.split(r"(\{[^}]*\})", template):
        if part.startswith("{"):
            out.append("[^/]+" if "**" not in part else ".+")
        else:
            out.append(re.sub(r"([%().+\-*?\[\]^$])", r"%\1", part))
    return "^" + "".join(out) + "$"


def _messages(fds: descriptor_pb2.FileDescriptorSet) -> dict[str, descriptor_pb2.DescriptorProto]:
    found: dict[str, descriptor_pb2.DescriptorProto] = {}

    def walk(prefix: str, msgs: list[descriptor_pb2.DescriptorProto]) -> None:
        for m in msgs:
            name = f"{prefix}.{m.name}"
            found[name] = m
            walk(name, list(m.nested_type))

    for f in fds.file:
        walk(f".{f.package}" if f.package else "", list(f.message_type))
    return found


def _field_schema(
    field: descriptor_pb2.FieldDescriptorProto, messages: dict[str, descriptor_pb2.DescriptorProto]
) -> str:
    if field.type != _T.TYPE_MESSAGE or field.type_name in _OPAQUE:
        return "true"
    target = messages[field.type_name]
    if target.options.map_entry:
        value = next(f for f in target.field if f.name == "value")
        item = (
            "nil"
            if value.type != _T.TYPE_MESSAGE or value.type_name in _OPAQUE
            else _lua_str(value.type_name)
        )
        return f'{{kind="map", item={item}}}'
    if field.label == _T.LABEL_REPEATED:
        return f'{{kind="list", item={_lua_str(field.type_name)}}}'
    return _lua_str(field.type_name)


def render_lua_tables(fds: descriptor_pb2.FileDescriptorSet, services: list[PublicService]) -> str:
    messages = _messages(fds)
    wanted = {s.full_name for s in services}
    routes: list[str] = []
    for f in fds.file:
        for service in f.service:
            if f"{f.package}.{service.name}" not in wanted:
                continue
            for method in service.method:
                rule: http_pb2.HttpRule = method.options.Extensions[annotations_pb2.http]
                verb = rule.WhichOneof("pattern")
                if verb is None or verb == "custom":
                    continue
                template = getattr(rule, verb)
                if not rule.body:
                    body = "nil"
                elif rule.body == "*":
                    body = _lua_str(method.input_type)
                else:
                    request = messages[method.input_type]
                    target = next(x for x in request.field if x.name == rule.body)
                    body = _field_schema(target, messages)
                routes.append(
                    f"  {{{_lua_str(verb.upper())}, {_lua_str(_path_pattern(template))}, {body}}},"
                )
    lines = ["MESSAGES = {"]
    for name, msg in sorted(messages.items()):
        if not name.startswith(".botmesh."):
            continue
        entries = []
        for field in msg.field:
            schema = _field_schema(field, messages)
            entries.append(f"[{_lua_str(field.name)}]={schema}")
            if field.json_name and field.json_name != field.name:
                entries.append(f"[{_lua_str(field.json_name)}]={schema}")
        lines.append(f"  [{_lua_str(name)}] = {{{', '.join(entries)}}},")
    lines.append("}")
    lines.append("ROUTES = {")
    lines.extend(routes)
    lines.append("}")
    return "\n".join(lines) + "\n"
