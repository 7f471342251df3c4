"""CORS at the gateway: which browser origins may call the REST routes and SSE streams.

The rule: Envoy's CORS filter runs first, before the guard, the rate limit and the
transcoder, and holds a policy on one route, `/v1/` (every REST binding and every SSE stream
is under it). It must be a route on the REST path because the filter looks the policy up
before the transcoder rewrites the path to the gRPC method; the request is then routed again
on the gRPC path, so this route never forwards anything (a path the transcoder does not know
is refused by it, 404). gRPC requests (content type application/grpc*) do not match it.

For an allowed origin, a preflight (OPTIONS with Access-Control-Request-Method) is answered
200 by Envoy with the methods and request headers our clients send, and every answer,
errors included, carries Access-Control-Allow-Origin, so browser code can read a 429 or a
google.rpc.Status. Any other origin gets no CORS header (its preflight falls through to the
404 of an unknown route) and the browser refuses the response. Nothing else is widened: no
credentials mode (no cookies; API keys and dashboard tokens travel as before), static files
and gRPC carry no CORS headers.
"""

from __future__ import annotations

from datetime import timedelta

from envoy_data_plane.envoy.config.route.v3 import (
    HeaderMatcher,
    Route,
    RouteAction,
    RouteMatch,
)
from envoy_data_plane.envoy.extensions.filters.http.cors.v3 import Cors, CorsPolicy
from envoy_data_plane.envoy.extensions.filters.network.http_connection_manager.v3 import (
    HttpFilter,
)
from envoy_data_plane.envoy.type.matcher.v3 import RegexMatcher, StringMatcher
from envoy_data_plane.google.protobuf import Any as AnyPb

from mesh import origins

CORS_FILTER = "envoy.filters.http.cors"
REST_PREFIX = "/v1/"
ALLOW_METHODS = "GET, POST, PATCH, DELETE, OPTIONS"
# What our clients send: keys (x-api-key, or authorization: Bearer), the marketplace's
# principal, dashboard tokens in a header, idempotency keys, request ids, JSON bodies,
# SSE resumption.
ALLOW_HEADERS = ", ".join(
    (
        "authorization",
        "content-type",
        "idempotency-key",
        "last-event-id",
        "x-access-token",
        "x-api-key",
        "x-principal-id",
        "x-request-id",
    )
)
# Response headers browser code may read besides the CORS-safelisted ones.
EXPOSE_HEADERS = "x-request-id, retry-after"
# Browsers cap this (Chromium at 2 h); 10 minutes keeps a changed list quick to take effect.
MAX_AGE_S = 600


def cors_filter() -> HttpFilter:
    return HttpFilter(name=CORS_FILTER, typed_config=AnyPb.pack(Cors()))


def matchers(entries: tuple[str, ...]) -> list[StringMatcher]:
    """Exact matchers for origins, whole-string regexes for patterns (mesh/origins.py)."""
    return [
        StringMatcher(safe_regex=RegexMatcher(regex=origins.regex(e)))
        if origins.is_pattern(e)
        else StringMatcher(exact=e)
        for e in entries
    ]


def policy(entries: tuple[str, ...]) -> CorsPolicy:
    return CorsPolicy(
        allow_origin_string_match=matchers(entries),
        allow_methods=ALLOW_METHODS,
        allow_headers=ALLOW_HEADERS,
        expose_headers=EXPOSE_HEADERS,
        max_age=str(MAX_AGE_S),
        allow_credentials=False,
    )


def rest_route(entries: tuple[str, ...], cluster: str, timeout_s: int) -> Route:
    """The route holding the policy for every non-gRPC request under /v1/ (see the module
    rule; `cluster` is only named because a route needs an action)."""
    not_grpc = HeaderMatcher(
        name="content-type",
        string_match=StringMatcher(prefix="application/grpc"),
        invert_match=True,
        treat_missing_header_as_empty=True,
    )
    return Route(
        match=RouteMatch(prefix=REST_PREFIX, headers=[not_grpc]),
        route=RouteAction(cluster=cluster, timeout=timedelta(seconds=timeout_s)),
        typed_per_filter_config={CORS_FILTER: AnyPb.pack(policy(entries))},
    )
