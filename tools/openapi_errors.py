"""The error responses of the OpenAPI document: every error body is a google.rpc.Status
(code, message, details), its details the google.rpc error-detail messages (ErrorInfo on
every error of ours) printed as Any: their fields plus "@type".

HTTP statuses are the ones Envoy's transcoder maps gRPC codes to (convert_grpc_status), and
Envoy's own local replies (unknown route, malformed JSON or query, oversize body, path or
headers, rate limit, no healthy replica, timeout), which the REST guard rewrites into the
same Status JSON. Every print option applies: code, message and details are always present.
"""

from __future__ import annotations

from typing import Any

from tools.openapi_schemas import Schemas

STATUS = ".google.rpc.Status"
DETAILS_PREFIX = ".google.rpc."
DETAIL_TYPES = (
    "ErrorInfo",
    "BadRequest",
    "RetryInfo",
    "DebugInfo",
    "QuotaFailure",
    "PreconditionFailure",
    "RequestInfo",
    "ResourceInfo",
    "Help",
    "LocalizedMessage",
)
# HTTP status -> what answers it: gRPC codes through the transcoder, or Envoy itself.
HTTP_ERRORS = {
    "400": "INVALID_ARGUMENT, FAILED_PRECONDITION or OUT_OF_RANGE; or a request Envoy could "
    "not transcode (malformed JSON, an unknown field or query parameter).",
    "401": "UNAUTHENTICATED: no valid API key or dashboard token.",
    "403": "PERMISSION_DENIED: the credential lacks the scope or ownership.",
    "404": "NOT_FOUND; or no route for the path (Envoy).",
    "405": "The path exists with another HTTP method (Envoy).",
    "409": "ALREADY_EXISTS or ABORTED.",
    "413": "The request body is larger than the gateway's limit (Envoy).",
    "414": "The request path and query are longer than the gateway's limit (Envoy).",
    "429": "RESOURCE_EXHAUSTED: a rate limit of the key, or of the gateway (Envoy).",
    "431": "The request headers are larger than the gateway's limit (Envoy).",
    "500": "UNKNOWN, INTERNAL or DATA_LOSS: a defect on our side.",
    "501": "UNIMPLEMENTED.",
    "503": "UNAVAILABLE: a dependency or every replica is down; retry with backoff.",
    "504": "DEADLINE_EXCEEDED: the request took longer than the gateway's timeout.",
}
ERROR_RESPONSES: dict[str, Any] = {
    f"Error{code}": {
        "description": text,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Status"}}},
    }
    for code, text in HTTP_ERRORS.items()
}


def responses_for() -> dict[str, Any]:
    return {code: {"$ref": f"#/components/responses/Error{code}"} for code in HTTP_ERRORS}


def error_components(schemas: Schemas) -> dict[str, Any]:
    """`Status` (the error body) and one schema per error-detail type."""
    details = []
    out: dict[str, Any] = {}
    for name in DETAIL_TYPES:
        full = f"{DETAILS_PREFIX}{name}"
        if full not in schemas.contract.messages:
            continue
        ref = schemas.ref(full, "out")
        key = ref["$ref"].rsplit("/", 1)[1]
        body = dict(schemas.components[key])
        body["properties"] = {
            "@type": {"const": f"type.googleapis.com/{full.lstrip('.')}"},
            **body["properties"],
        }
        body["required"] = ["@type", *body.get("required", [])]
        out[key] = body
        details.append(ref)
    status = schemas.message(STATUS, "out")
    status["properties"]["details"] = {"type": "array", "items": {"anyOf": details}}
    status["required"] = ["code", "message", "details"]
    status["description"] = "The error body of every REST error (google.rpc.Status)."
    out["Status"] = status
    return out
