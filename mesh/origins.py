"""Browser origins allowed to call the gateway cross-origin (CORS), from BOTMESH_CORS_ORIGINS.

The rule: an entry is one origin, `scheme://host[:port]` exactly as a browser sends it in
`Origin` (lower case, no path, no trailing slash), or a pattern where `*` stands for one
whole DNS label (`https://*.icp0.io`: any canister on icp0.io, never `a.b.icp0.io`) or for
the port (`http://localhost:*`). A lone `*` (any origin), or a host of wildcards only, is
refused: the marketplace's
frontends are named one by one. Unset or empty, the list is the environment's default:
the loopback origins on any port in development, none in production. `none` names no origin
in any environment.
"""

from __future__ import annotations

import re

ENVIRONMENTS = ("development", "production")
DEVELOPMENT_ORIGINS = ("http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*")
NONE = "none"

_ORIGIN = re.compile(
    r"^(?P<scheme>https?)://"
    r"(?P<host>\[[0-9a-f:.]+\]|(\*|[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)"
    r"(\.(\*|[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?))*)"
    r"(:(?P<port>\*|[0-9]{1,5}))?$"
)
_LABEL = "[a-z0-9-]+"  # RE2 in Envoy caps a regex's program size: keep it plain
_PORT = "[0-9]+"


def environment(text: str) -> str:
    """BOTMESH_ENVIRONMENT, checked: development or production."""
    value = text.strip().lower()
    if value not in ENVIRONMENTS:
        raise ValueError(f"BOTMESH_ENVIRONMENT={text!r}: expected one of {', '.join(ENVIRONMENTS)}")
    return value


def parse(text: str, env: str) -> tuple[str, ...]:
    """BOTMESH_CORS_ORIGINS (comma-separated) as checked entries; unset or empty: the
    environment's default; `none`: no origin. A malformed entry raises ValueError."""
    entries = [e.strip() for e in text.split(",") if e.strip()]
    if not entries:
        return DEVELOPMENT_ORIGINS if env == "development" else ()
    if entries == [NONE]:
        return ()
    for entry in entries:
        check(entry)
    return tuple(dict.fromkeys(entries))


def check(entry: str) -> None:
    """Refuses anything that is not one origin or one origin pattern."""
    if entry == "*":
        raise ValueError("BOTMESH_CORS_ORIGINS: '*' (any origin) is not allowed; name them")
    match = _ORIGIN.match(entry)
    if match is not None and all(label == "*" for label in match.group("host").split(".")):
        raise ValueError(f"BOTMESH_CORS_ORIGINS: {entry!r} names no host; name the domain")
    if match is None:
        raise ValueError(
            f"BOTMESH_CORS_ORIGINS: {entry!r} is not an origin like https://host[:port] "
            "(lower case, no path; '*' for one DNS label or the port)"
        )


def is_pattern(entry: str) -> bool:
    return "*" in entry


def regex(entry: str) -> str:
    """The RE2 regex (whole-string) of a pattern entry: `*` as one DNS label in the host, as
    a port number after the last colon."""
    match = _ORIGIN.match(entry)
    if match is None:
        raise ValueError(f"not an origin: {entry!r}")
    host = match.group("host")
    parts = [re.escape(match.group("scheme") + "://")]
    if host.startswith("["):
        parts.append(re.escape(host))
    else:
        labels = host.split(".")
        parts.append(r"\.".join(_LABEL if label == "*" else re.escape(label) for label in labels))
    port = match.group("port")
    if port is not None:
        parts.append(":" + (_PORT if port == "*" else port))
    return "".join(parts)


def allowed(entries: tuple[str, ...], origin: str) -> bool:
    """Whether `origin` is on the list (what Envoy's matchers decide, for tests and tools)."""
    for entry in entries:
        if entry == origin or (is_pattern(entry) and re.fullmatch(regex(entry), origin)):
            return True
    return False
