"""Security schemes of the OpenAPI document, from each method's access rule
(botmesh.rules.v1.access), as mesh/auth.py checks them.

An API key travels in x-api-key. A method that acts for an ICP principal also needs
x-principal-id (marketplace keys only). Methods marked `dashboard_token` (the SSE streams)
take a dashboard token instead: Authorization: Bearer, x-access-token, or the access_token
query parameter (a browser's EventSource cannot set headers). The scopes a key needs are
listed in the operation's `x-botmesh-scopes`; API-key schemes carry no scopes in OpenAPI.
"""

from __future__ import annotations

from typing import Any

from botmesh.rules.v1 import rules_pb2
from google.protobuf import descriptor_pb2

from mesh.auth import ACCESS_TOKEN_HEADER, API_KEY_HEADER, PRINCIPAL_HEADER

SECURITY_SCHEMES: dict[str, Any] = {
    "ApiKey": {
        "type": "apiKey",
        "in": "header",
        "name": API_KEY_HEADER,
        "description": "An API key; the scopes an operation needs (any one) are in its "
        "x-botmesh-scopes.",
    },
    "Principal": {
        "type": "apiKey",
        "in": "header",
        "name": PRINCIPAL_HEADER,
        "description": "The ICP principal the call acts for; only with a marketplace key.",
    },
    "DashboardToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "A dashboard token from POST /v1/dashboard-tokens (streams only).",
    },
    "DashboardTokenHeader": {
        "type": "apiKey",
        "in": "header",
        "name": ACCESS_TOKEN_HEADER,
        "description": "A dashboard token, as a header (streams only).",
    },
    "DashboardTokenQuery": {
        "type": "apiKey",
        "in": "query",
        "name": "access_token",
        "description": "A dashboard token, as a query parameter, for EventSource (streams only).",
    },
}


def security_for(method: descriptor_pb2.MethodDescriptorProto) -> list[dict[str, list[str]]]:
    access = method.options.Extensions[rules_pb2.access]
    key: dict[str, list[str]] = {"ApiKey": []}
    if access.principal:
        key["Principal"] = []
    options = [key]
    if access.dashboard_token:
        options += [
            {"DashboardToken": []},
            {"DashboardTokenHeader": []},
            {"DashboardTokenQuery": []},
        ]
    return options
