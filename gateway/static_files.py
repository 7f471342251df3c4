"""Static files served by Envoy itself: the dashboard page and the OpenAPI document.

The rule: a static file is a route with a direct response whose body Envoy reads from the
file when it loads its configuration, so no service and no extra process serves it, and a
static path can never reach an upstream. The transcoder is switched off on these routes
(it would refuse a path that maps to no method); the rate limit and the guard still apply. Only GET and HEAD match; any other method on the
path falls through to the 404 every unknown route gets. Each file is named one by one (no
directory listing, no path a caller can steer), with its content type and `nosniff`.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from pathlib import Path

from envoy_data_plane.envoy.config.core.v3 import (
    DataSource,
    HeaderValue,
    HeaderValueOption,
    HeaderValueOptionHeaderAppendAction,
)
from envoy_data_plane.envoy.config.route.v3 import (
    DirectResponseAction,
    FilterConfig,
    HeaderMatcher,
    Route,
    RouteMatch,
)
from envoy_data_plane.envoy.type.matcher.v3 import RegexMatcher, StringMatcher
from envoy_data_plane.google.protobuf import Any as AnyPb

TRANSCODER = "envoy.filters.http.grpc_json_transcoder"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}


@dataclass(frozen=True)
class StaticFile:
    path: str  # the exact URL path, e.g. "/dashboard/app.js"
    file: Path
    content_type: str
    # Extra response headers (e.g. a Content-Security-Policy for a page).
    headers: tuple[tuple[str, str], ...] = ()


def content_type(file: Path) -> str:
    return CONTENT_TYPES.get(file.suffix) or mimetypes.guess_type(file.name)[0] or "text/plain"


def folder(url_prefix: str, directory: Path, *, index: str = "index.html") -> list[StaticFile]:
    """Every file directly in `directory` at `url_prefix` + its name; the index also at the
    bare prefix (with and without its trailing slash). Hidden files are skipped."""
    prefix = url_prefix.rstrip("/")
    files: list[StaticFile] = []
    for file in sorted(directory.iterdir()) if directory.is_dir() else []:
        if not file.is_file() or file.name.startswith("."):
            continue
        files.append(StaticFile(f"{prefix}/{file.name}", file.resolve(), content_type(file)))
        if file.name == index:
            for path in (prefix + "/", prefix):
                files.append(StaticFile(path, file.resolve(), content_type(file)))
    return files


def max_body_bytes(files: list[StaticFile]) -> int:
    """Envoy refuses a direct-response body over this (its default is 4 KiB)."""
    largest = max((f.file.stat().st_size for f in files), default=0)
    return max(4096, largest + 1)


def _header(name: str, value: str) -> HeaderValueOption:
    return HeaderValueOption(
        header=HeaderValue(key=name, value=value),
        append_action=HeaderValueOptionHeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD,
    )


def static_routes(files: list[StaticFile]) -> list[Route]:
    get_or_head = HeaderMatcher(
        name=":method", string_match=StringMatcher(safe_regex=RegexMatcher(regex="GET|HEAD"))
    )
    routes: list[Route] = []
    for f in files:
        headers = [
            ("content-type", f.content_type),
            ("x-content-type-options", "nosniff"),
            ("cache-control", "no-cache"),
            *f.headers,
        ]
        routes.append(
            Route(
                match=RouteMatch(path=f.path, headers=[get_or_head]),
                direct_response=DirectResponseAction(
                    status=200, body=DataSource(filename=str(f.file))
                ),
                response_headers_to_add=[_header(k, v) for k, v in headers],
                # The transcoder refuses (404) any path that maps to no gRPC method.
                typed_per_filter_config={TRANSCODER: AnyPb.pack(FilterConfig(disabled=True))},
            )
        )
    return routes
