"""JSON Schemas of protobuf messages as Envoy's gRPC-JSON transcoder reads and prints them.

The rules this module keeps (gateway/envoy_config.py sets the print options):
- field names are the proto names (preserve_proto_field_names), never lowerCamel;
- 64-bit integers print as decimal strings; a request may send a string or a number;
- enums print as their value names;
- every scalar, list and map of a response is printed even when empty
  (always_print_primitive_fields), so those are `required` in response schemas; message
  fields, oneof members and proto3 `optional` fields appear only when set;
- a request's `required` and limits are its (botmesh.rules.v1.field) rules, which
  mesh/validation.py enforces; unknown fields are refused (the REST guard), so every message
  schema closes with additionalProperties: false;
- well-known types take their JSON forms (Timestamp an RFC 3339 string, wrappers their
  scalar, Struct an object, ...).

A message reached from both requests and responses gets two schemas: `<full name>` for
responses and `<full name>.Input` for requests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from botmesh.rules.v1 import rules_pb2
from google.protobuf import descriptor_pb2

Direction = Literal["in", "out"]
Schema = dict[str, Any]
_T = descriptor_pb2.FieldDescriptorProto
INT64_TYPES = {_T.TYPE_INT64, _T.TYPE_SINT64, _T.TYPE_SFIXED64}
UINT64_TYPES = {_T.TYPE_UINT64, _T.TYPE_FIXED64}
INT32_TYPES = {_T.TYPE_INT32, _T.TYPE_SINT32, _T.TYPE_SFIXED32}
UINT32_TYPES = {_T.TYPE_UINT32, _T.TYPE_FIXED32}
FLOAT_TYPES = {_T.TYPE_DOUBLE, _T.TYPE_FLOAT}
# Non-finite floats print as these strings.
NON_FINITE = ["NaN", "Infinity", "-Infinity"]
# The money columns' bound (mesh/validation.py): 18 digits on each side of the point.
DECIMAL_DIGITS = 18


def int64_schema(direction: Direction, *, unsigned: bool = False) -> Schema:
    """A 64-bit integer: printed as a string; a request may also send a JSON number."""
    text: Schema = {"type": "string", "pattern": "^[0-9]+$" if unsigned else "^-?[0-9]+$"}
    if direction == "out":
        return text
    number: Schema = {"type": "integer", "format": "uint64" if unsigned else "int64"}
    if unsigned:
        number["minimum"] = 0
    return {"anyOf": [text, number]}


def _wkt(name: str, direction: Direction) -> Schema | None:
    """JSON forms of the well-known types (protobuf's JSON mapping)."""
    number: Schema = {"type": "number"}
    if direction == "out":
        number = {"anyOf": [number, {"type": "string", "enum": NON_FINITE}]}
    forms: dict[str, Schema] = {
        ".google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
        ".google.protobuf.Duration": {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]{1,9})?s$"},
        ".google.protobuf.FieldMask": {
            "type": "string",
            "description": "Comma-separated field paths.",
        },
        ".google.protobuf.Struct": {"type": "object"},
        ".google.protobuf.Value": {},
        ".google.protobuf.ListValue": {"type": "array"},
        ".google.protobuf.Empty": {"type": "object", "maxProperties": 0},
        ".google.protobuf.Any": {
            "type": "object",
            "properties": {"@type": {"type": "string"}},
            "required": ["@type"],
        },
        ".google.protobuf.DoubleValue": number,
        ".google.protobuf.FloatValue": number,
        ".google.protobuf.Int64Value": int64_schema(direction),
        ".google.protobuf.UInt64Value": int64_schema(direction, unsigned=True),
        ".google.protobuf.Int32Value": {"type": "integer", "format": "int32"},
        ".google.protobuf.UInt32Value": {"type": "integer", "minimum": 0, "maximum": 2**32 - 1},
        ".google.protobuf.BoolValue": {"type": "boolean"},
        ".google.protobuf.StringValue": {"type": "string"},
        ".google.protobuf.BytesValue": {"type": "string", "format": "byte"},
    }
    return forms.get(name)


@dataclass
class Contract:
    """The messages and enums of a descriptor set, with their comments, by full name
    (leading dot, as field type names spell them)."""

    messages: dict[str, descriptor_pb2.DescriptorProto] = field(default_factory=dict)
    enums: dict[str, descriptor_pb2.EnumDescriptorProto] = field(default_factory=dict)
    comments: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, fds: descriptor_pb2.FileDescriptorSet) -> Contract:
        found = cls()
        for file in fds.file:
            docs = {
                tuple(loc.path): _clean(loc.leading_comments)
                for loc in file.source_code_info.location
                if loc.leading_comments.strip()
            }
            prefix = f".{file.package}" if file.package else ""
            for i, enum in enumerate(file.enum_type):
                found._enum(f"{prefix}.{enum.name}", enum, docs, (5, i))
            for i, msg in enumerate(file.message_type):
                found._message(f"{prefix}.{msg.name}", msg, docs, (4, i))
            for s, service in enumerate(file.service):
                for m, method in enumerate(service.method):
                    text = docs.get((6, s, 2, m))
                    if text:
                        found.comments[f".{file.package}.{service.name}.{method.name}"] = text
        return found

    def _enum(
        self, name: str, enum: descriptor_pb2.EnumDescriptorProto, docs: dict, path: tuple
    ) -> None:
        self.enums[name] = enum
        if path in docs:
            self.comments[name] = docs[path]

    def _message(
        self, name: str, msg: descriptor_pb2.DescriptorProto, docs: dict, path: tuple
    ) -> None:
        self.messages[name] = msg
        if path in docs:
            self.comments[name] = docs[path]
        for i, fld in enumerate(msg.field):
            if (*path, 2, i) in docs:
                self.comments[f"{name}.{fld.name}"] = docs[(*path, 2, i)]
        for i, nested in enumerate(msg.nested_type):
            self._message(f"{name}.{nested.name}", nested, docs, (*path, 3, i))
        for i, enum in enumerate(msg.enum_type):
            self._enum(f"{name}.{enum.name}", enum, docs, (*path, 4, i))


def rules_of(fld: descriptor_pb2.FieldDescriptorProto) -> rules_pb2.FieldRules:
    return fld.options.Extensions[rules_pb2.field]


def is_map(contract: Contract, fld: descriptor_pb2.FieldDescriptorProto) -> bool:
    return (
        fld.type == _T.TYPE_MESSAGE
        and fld.label == _T.LABEL_REPEATED
        and contract.messages[fld.type_name].options.map_entry
    )


class Schemas:
    """Builds components/schemas on demand: `ref(name, direction)` returns a $ref and makes
    sure the component (and every message it reaches) is defined."""

    def __init__(self, contract: Contract, shared: set[str]) -> None:
        self.contract = contract
        # Messages reached from both requests and responses: their request form is `.Input`.
        self.shared = shared
        self.components: dict[str, Schema] = {}

    def name(self, type_name: str, direction: Direction) -> str:
        bare = type_name.lstrip(".")
        return f"{bare}.Input" if direction == "in" and type_name in self.shared else bare

    def ref(self, type_name: str, direction: Direction) -> Schema:
        known = _wkt(type_name, direction)
        if known is not None:
            return dict(known)
        name = self.name(type_name, direction)
        if name not in self.components:
            self.components[name] = {}  # reserved first: messages may refer to themselves
            self.components[name] = self.message(type_name, direction)
        return {"$ref": f"#/components/schemas/{name}"}

    def message(
        self, type_name: str, direction: Direction, *, skip: frozenset = frozenset()
    ) -> Schema:
        """The object schema of a message, without the fields named in `skip` (bound from
        the path)."""
        msg = self.contract.messages[type_name]
        props: dict[str, Schema] = {}
        required: list[str] = []
        groups: dict[int, list[str]] = {}
        for fld in msg.field:
            if fld.name in skip:
                continue
            props[fld.name] = self.field(type_name, fld, direction)
            in_oneof = fld.HasField("oneof_index") and not fld.proto3_optional
            if in_oneof:
                groups.setdefault(fld.oneof_index, []).append(fld.name)
            if direction == "in":
                if rules_of(fld).required:
                    required.append(fld.name)
            elif not in_oneof and not fld.proto3_optional and fld.type != _T.TYPE_MESSAGE:
                required.append(fld.name)
            elif is_map(self.contract, fld) or (
                fld.type == _T.TYPE_MESSAGE and fld.label == _T.LABEL_REPEATED
            ):
                required.append(fld.name)  # lists and maps of messages print as []/{}
        schema: Schema = {"type": "object", "properties": props, "additionalProperties": False}
        if required:
            schema["required"] = required
        exclusive = [names for names in groups.values() if len(names) > 1]
        if exclusive:
            # At most one member of a oneof is set.
            schema["allOf"] = [
                {"not": {"required": [a, b]}}
                for names in exclusive
                for i, a in enumerate(names)
                for b in names[i + 1 :]
            ]
            schema["x-oneofs"] = {msg.oneof_decl[i].name: n for i, n in groups.items()}
        text = self.contract.comments.get(type_name)
        if text:
            schema["description"] = text
        return schema

    def field(
        self, owner: str, fld: descriptor_pb2.FieldDescriptorProto, direction: Direction
    ) -> Schema:
        rules = rules_of(fld)
        if is_map(self.contract, fld):
            entry = self.contract.messages[fld.type_name]
            value = next(f for f in entry.field if f.name == "value")
            schema: Schema = {
                "type": "object",
                "additionalProperties": self._item(value, rules, direction),
            }
            names: Schema = {}
            if rules.HasField("key_max_len"):
                names["maxLength"] = rules.key_max_len
            if rules.key_pattern:
                names["pattern"] = rules.key_pattern
            if names:
                schema["propertyNames"] = {"type": "string", **names}
            if rules.HasField("max_items"):
                schema["maxProperties"] = rules.max_items
            if direction == "in" and rules.required:
                schema["minProperties"] = 1
        elif fld.label == _T.LABEL_REPEATED:
            schema = {"type": "array", "items": self._item(fld, rules, direction)}
            if rules.HasField("max_items"):
                schema["maxItems"] = rules.max_items
            if direction == "in" and rules.required:
                schema["minItems"] = 1
        else:
            schema = self.single(fld, rules, direction)
        text = self.contract.comments.get(f"{owner}.{fld.name}")
        if text:
            if "$ref" in schema:  # siblings of $ref are allowed in 3.1
                schema = {**schema}
            schema["description"] = text
        return schema

    def _item(
        self, fld: descriptor_pb2.FieldDescriptorProto, rules: rules_pb2.FieldRules, d: Direction
    ) -> Schema:
        """A list item or map value: item_max_len and item_pattern are its rules."""
        item = self.single(fld, rules_pb2.FieldRules(), d)
        if fld.type == _T.TYPE_STRING and d == "in":
            if rules.HasField("item_max_len"):
                item["maxLength"] = rules.item_max_len
            if rules.item_pattern:
                item["pattern"] = rules.item_pattern
        return item

    def single(
        self, fld: descriptor_pb2.FieldDescriptorProto, rules: rules_pb2.FieldRules, d: Direction
    ) -> Schema:
        if fld.type == _T.TYPE_MESSAGE or fld.type == _T.TYPE_GROUP:
            return self.ref(fld.type_name, d)
        if fld.type == _T.TYPE_ENUM:
            values = [v.name for v in self.contract.enums[fld.type_name].value]
            if d == "in" and rules.required:
                values = values[1:]  # the zero value means "unset"
            return {"type": "string", "enum": values}
        if fld.type in INT64_TYPES or fld.type in UINT64_TYPES:
            return int64_schema(d, unsigned=fld.type in UINT64_TYPES)
        if fld.type == _T.TYPE_BOOL:
            return {"type": "boolean"}
        if fld.type in FLOAT_TYPES:
            return _float(rules, d)
        if fld.type in INT32_TYPES or fld.type in UINT32_TYPES:
            return _int32(rules, d, unsigned=fld.type in UINT32_TYPES)
        if fld.type == _T.TYPE_BYTES:
            return {"type": "string", "format": "byte"}
        return _string(rules, d)


def _float(rules: rules_pb2.FieldRules, d: Direction) -> Schema:
    if d == "out":
        return {"anyOf": [{"type": "number"}, {"type": "string", "enum": NON_FINITE}]}
    schema: Schema = {"type": "number"}
    if rules.HasField("gte_double"):
        schema["minimum"] = rules.gte_double
    if rules.HasField("lte_double"):
        schema["maximum"] = rules.lte_double
    return schema


def _int32(rules: rules_pb2.FieldRules, d: Direction, *, unsigned: bool) -> Schema:
    low, high = (0, 2**32 - 1) if unsigned else (-(2**31), 2**31 - 1)
    if d == "in":
        low = max(low, rules.gte) if rules.HasField("gte") else low
        high = min(high, rules.lte) if rules.HasField("lte") else high
    return {
        "type": "integer",
        "format": "uint32" if unsigned else "int32",
        "minimum": low,
        "maximum": high,
    }


def _string(rules: rules_pb2.FieldRules, d: Direction) -> Schema:
    schema: Schema = {"type": "string"}
    if d == "out":
        return schema
    if rules.decimal:
        whole = rules.max_int_digits if rules.HasField("max_int_digits") else DECIMAL_DIGITS
        frac = rules.max_frac_digits if rules.HasField("max_frac_digits") else DECIMAL_DIGITS
        schema["pattern"] = f"^[0-9]{{1,{whole}}}(\\.[0-9]{{1,{frac}}})?$"
        notes = ["A non-negative decimal number written as a string."]
        if rules.positive:
            notes.append("Greater than zero.")
        if rules.max_decimal:
            notes.append(f"At most {rules.max_decimal}.")
        schema["x-decimal"] = " ".join(notes)
    elif rules.pattern:
        schema["pattern"] = rules.pattern
    if rules.HasField("min_len"):
        schema["minLength"] = rules.min_len
    elif rules.required:
        schema["minLength"] = 1
    if rules.HasField("max_len"):
        schema["maxLength"] = rules.max_len
    return schema


def _clean(comment: str) -> str:
    return "\n".join(line.strip() for line in comment.strip().splitlines())
