"""Authentication and authorization of every call, in every service.

An API key is checked against a short-lived in-process cache of its row (TTL a few seconds),
so a revocation takes effect within that TTL everywhere without a database read per request.
A key id that does not exist is remembered apart, in a bounded negative cache (its own TTL
and size), so a flood of made-up key ids costs at most one database read per id per window
and can never push a valid key out of the cache of found keys.
While the database is unreachable, a key last read as valid keeps working from that cache
for a bounded time (STALE_GRACE_S); a revocation cannot be seen then, nor made.
Identity metadata a client sends itself is never trusted: the internal identity is a shared
secret that Envoy strips from outside requests.

Dashboard tokens (mesh/dashboard_tokens.py) replace the API key on methods whose access rule
says `dashboard_token: true` (the streaming routes, and the reads the dashboard page makes:
GetBotStatus, GetPerformance). They come from `x-access-token` or
`authorization: Bearer` metadata, or, for browsers whose EventSource cannot set headers, in
the request message's `access_token` field (Envoy's transcoder puts query parameters into the
message, not into headers). The interceptor authenticates before the handler sees the
message, so for such a call it admits a *pending* caller, and the streaming servicer must
call `authenticate_stream(request.access_token)` first. Until it does, `caller()` raises
UNAUTHENTICATED, so a servicer that forgets fails closed.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime

from mesh import dashboard_tokens
from mesh.access import Access
from mesh.apikey_store import ApiKeyStore
from mesh.apikeys import ApiKeyRecord, parse_key, secret_matches
from mesh.dependencies import dependency_of
from mesh.errors import PermissionDenied, Unauthenticated
from mesh.metrics import AUTH_KEY_LOOKUPS
from mesh.principal import parse_principal
from mesh.ratelimit import RateLimiter
from mesh.ttl_cache import TtlLru

API_KEY_HEADER = "x-api-key"
PRINCIPAL_HEADER = "x-principal-id"
INTERNAL_HEADER = "x-botmesh-internal"
ACCESS_TOKEN_HEADER = "x-access-token"
DASHBOARD_SCOPE = "dashboard"
_CACHE_LIMIT = 10_000
# Unknown key ids: long enough to absorb a flood, short enough that nothing real waits on it
# (key ids are random, so a real key is never looked up before it exists). The bound holds a
# window's worth of distinct ids at Envoy's per-address limit many times over (~15 MB full);
# past it the least recently seen unknown ids are forgotten first, never a valid key.
NEGATIVE_TTL_S = 10.0
_NEGATIVE_LIMIT = 65_536
# How long after its last successful read a valid key may be served while the database is
# down (the cache TTL still bounds it whenever the database answers).
STALE_GRACE_S = 120.0
# After the database failed a lookup, stale keys are served without asking it for this long.
DB_RETRY_AFTER_S = 1.0
log = logging.getLogger("botmesh.auth")


@dataclass(frozen=True)
class Caller:
    key_id: str | None
    scopes: frozenset[str]
    principal: str | None
    internal: bool
    # A dashboard token's caller: read-only, bound to `principal`.
    dashboard: bool = False
    # A dashboard-token method called with neither key nor token in metadata: the servicer
    # must call authenticate_stream() with the message's access_token.
    pending_token: bool = False
    # A dashboard token's name (a hash, never the token) and expiry: streams opened with it
    # are counted per token and end when it expires.
    token_id: str | None = None
    token_expires: datetime | None = None


current_caller: ContextVar[Caller | None] = ContextVar("current_caller", default=None)


def caller() -> Caller:
    """The authenticated caller of the current RPC."""
    value = current_caller.get()
    if value is None:
        raise RuntimeError("no authenticated caller in this context")
    if value.pending_token:
        raise Unauthenticated(
            "send an API key, or an access token for this stream", reason="API_KEY_MISSING"
        )
    return value


def acting_principal() -> str:
    """The principal a user-scoped call acts for. The access rule guarantees one; this
    fails closed if a servicer is ever reached without it."""
    principal = caller().principal
    if principal is None:
        raise Unauthenticated("send x-principal-id", reason="PRINCIPAL_MISSING")
    return principal


def authenticate_stream(access_token: str) -> Caller:
    """For streaming servicers whose method accepts dashboard tokens: checks the token the
    request message carries (the `access_token` query parameter of SSE routes) when the
    metadata carried none, and makes it the current caller. Call it before anything else."""
    value = current_caller.get()
    if value is None or not value.pending_token:
        return caller()
    verifier = _token_verifier.get()
    if not access_token or verifier is None:
        raise Unauthenticated(
            "send an API key, or an access token for this stream", reason="API_KEY_MISSING"
        )
    resolved = _dashboard_caller(verifier(access_token), access_token, internal=value.internal)
    current_caller.set(resolved)
    return resolved


def _dashboard_caller(claims: tuple[str, datetime], token: str, *, internal: bool) -> Caller:
    principal, expires = claims
    return Caller(
        key_id=None,
        scopes=frozenset({DASHBOARD_SCOPE}),
        principal=principal,
        internal=internal,
        dashboard=True,
        token_id=dashboard_tokens.token_id(token),
        token_expires=expires,
    )


def _bearer(md: Mapping[str, str]) -> str | None:
    token = md.get(ACCESS_TOKEN_HEADER)
    if token:
        return token
    header = md.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return None


_token_verifier: ContextVar[Callable[[str], tuple[str, datetime]] | None] = ContextVar(
    "dashboard_token_verifier", default=None
)


class Authenticator:
    def __init__(
        self,
        store: ApiKeyStore,
        *,
        pepper: str,
        internal_token: str,
        cache_ttl_s: float,
        limiter: RateLimiter | None = None,
        negative_ttl_s: float = NEGATIVE_TTL_S,
        negative_limit: int = _NEGATIVE_LIMIT,
    ) -> None:
        self._store = store
        self._limiter = limiter
        self._pepper = pepper
        self._internal = internal_token.encode()
        self._ttl = cache_ttl_s
        # Found rows with the time they were read: fresh for cache_ttl_s, and kept up to
        # STALE_GRACE_S to answer while the database is unreachable.
        self._found: TtlLru[tuple[float, ApiKeyRecord]] = TtlLru(
            ttl_s=max(cache_ttl_s, STALE_GRACE_S), max_entries=_CACHE_LIMIT
        )
        self._unknown: TtlLru[None] = TtlLru(ttl_s=negative_ttl_s, max_entries=negative_limit)
        # Database reads of key rows made by this authenticator (also a Prometheus counter).
        self.db_lookups = 0
        self._loading: dict[str, asyncio.Future[ApiKeyRecord | None]] = {}
        self._callers: dict[tuple[str, str | None, bool], tuple[ApiKeyRecord, Caller]] = {}
        self._last_used: dict[str, datetime] = {}
        self._db_down = False
        self._db_retry_at = 0.0

    async def authenticate(self, access: Access, md: Mapping[str, str]) -> Caller:
        internal = self._is_internal(md)
        if access.internal and not internal:
            raise PermissionDenied("this method is internal", reason="INTERNAL_ONLY")
        if not access.scopes:
            return Caller(key_id=None, scopes=frozenset(), principal=None, internal=True)
        if internal and "read" in access.scopes and not md.get(API_KEY_HEADER):
            # Service to service (analysis_svc reading candles from trading_svc): the internal
            # identity stands in for a read key, and only on read methods.
            return Caller(key_id=None, scopes=frozenset({"read"}), principal=None, internal=True)
        if access.dashboard_token and not md.get(API_KEY_HEADER):
            return self._token_caller(md, internal)
        record = await self._key(md.get(API_KEY_HEADER))
        if not record.scopes & access.scopes:
            raise PermissionDenied(
                "the API key lacks the scope this method needs",
                reason="SCOPE_MISSING",
                metadata={"required_scopes": ",".join(sorted(access.scopes))},
            )
        principal = md.get(PRINCIPAL_HEADER) or None
        if principal is not None:
            if "marketplace" not in record.scopes:
                raise PermissionDenied(
                    "only a marketplace key may name a principal", reason="PRINCIPAL_NOT_ALLOWED"
                )
            parse_principal(principal)
        elif access.principal:
            raise Unauthenticated(
                "this method acts for a principal: send x-principal-id", reason="PRINCIPAL_MISSING"
            )
        return self._caller(record, principal, internal)

    def _caller(self, record: ApiKeyRecord, principal: str | None, internal: bool) -> Caller:
        """The Caller for a key row, made once per row read (Callers are immutable)."""
        key = (record.key_id, principal, internal)
        made = self._callers.get(key)
        if made is not None and made[0] is record:
            return made[1]
        caller = Caller(
            key_id=record.key_id, scopes=record.scopes, principal=principal, internal=internal
        )
        self._callers[key] = (record, caller)
        if len(self._callers) > _CACHE_LIMIT:  # the oldest made goes first
            del self._callers[next(iter(self._callers))]
        return caller

    def verify_token(self, token: str) -> tuple[str, datetime]:
        """The principal and expiry of a valid dashboard token."""
        return dashboard_tokens.claims(self._pepper, token, datetime.now(UTC))

    def _token_caller(self, md: Mapping[str, str], internal: bool) -> Caller:
        token = _bearer(md)
        if token is not None:
            return _dashboard_caller(self.verify_token(token), token, internal=internal)
        _token_verifier.set(self.verify_token)
        return Caller(
            key_id=None, scopes=frozenset(), principal=None, internal=internal, pending_token=True
        )

    def _is_internal(self, md: Mapping[str, str]) -> bool:
        token = md.get(INTERNAL_HEADER)
        return token is not None and hmac.compare_digest(token.encode(), self._internal)

    async def _key(self, presented: str | None) -> ApiKeyRecord:
        if not presented:
            raise Unauthenticated("send an API key in x-api-key", reason="API_KEY_MISSING")
        parsed = parse_key(presented)
        if parsed is None:
            raise Unauthenticated("the API key is malformed", reason="API_KEY_INVALID")
        record = self._fresh(parsed.key_id)
        if record is None:  # not read in the last cache_ttl_s (or never found)
            record = await self._lookup(parsed.key_id)
        if record is None or not secret_matches(self._pepper, parsed.secret, record.secret_hash):
            raise Unauthenticated("the API key is not valid", reason="API_KEY_INVALID")
        now = datetime.now(UTC)
        if record.revoke_time is not None:
            raise Unauthenticated("the API key was revoked", reason="API_KEY_REVOKED")
        if not record.usable_at(now):
            raise Unauthenticated("the API key has expired", reason="API_KEY_EXPIRED")
        self._last_used[record.key_id] = now
        if self._limiter is not None and not self._limiter.take_leased(record.key_id):
            await self._limiter.acquire(record.key_id, record.rate_limit_per_s)
        return record

    def cached(self, key_id: str) -> bool:
        """Whether a found key's row is fresh in the cache now (no database read needed)."""
        return self._fresh(key_id) is not None

    def _fresh(self, key_id: str) -> ApiKeyRecord | None:
        """The key's row if it was read in the last cache_ttl_s."""
        hit, entry = self._found.get(key_id)
        if hit and entry is not None and time.monotonic() - entry[0] < self._ttl:
            return entry[1]
        return None

    async def _lookup(self, key_id: str) -> ApiKeyRecord | None:
        fresh = self._fresh(key_id)
        if fresh is not None:
            return fresh
        if key_id in self._unknown:
            return None
        hit = key_id in self._found
        if hit and self._db_down and time.monotonic() < self._db_retry_at:
            stale = self._stale(key_id, None)
            if stale is not None:  # the database failed a moment ago: do not wait on it again
                return stale
        pending = self._loading.get(key_id)
        if pending is not None:
            stale = self._stale(key_id, None) if self._db_down else None
            if stale is not None:  # that lookup probes a database that just failed
                return stale
            return await asyncio.shield(pending)
        future: asyncio.Future[ApiKeyRecord | None] = asyncio.get_running_loop().create_future()
        self._loading[key_id] = future
        try:
            try:
                self.db_lookups += 1
                record = await self._store.get(key_id)
            except Exception as exc:
                stale = self._stale(key_id, exc)
                if stale is None:
                    raise
                future.set_result(stale)
                return stale
            AUTH_KEY_LOOKUPS.labels("missing" if record is None else "found").inc()
            if self._db_down:
                self._db_down = False
                log.info("database reachable again; API keys are read from it")
            if record is None:
                self._found.discard(key_id)
                self._unknown.put(key_id, None)
            else:
                self._found.put(key_id, (time.monotonic(), record))
            future.set_result(record)
            return record
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        finally:
            del self._loading[key_id]

    def _stale(self, key_id: str, exc: Exception | None) -> ApiKeyRecord | None:
        """While the database is unreachable (`exc` says so, or None: it did a moment ago),
        the last row this process read for a key answers for STALE_GRACE_S after that read.
        A revoked row keeps refusing (revocation is final). A key id the database did not
        know is not served: it may have been issued since, so the outage surfaces as
        UNAVAILABLE, as it does for every key once the grace has passed."""
        hit, entry = self._found.get(key_id)
        if exc is not None and dependency_of(exc) != "database":
            return None
        if not hit or entry is None or time.monotonic() - entry[0] > STALE_GRACE_S:
            return None
        if exc is not None:
            self._db_retry_at = time.monotonic() + DB_RETRY_AFTER_S
        if not self._db_down:
            self._db_down = True
            log.warning("database unreachable; serving API keys from the process cache")
        return entry[1]

    async def flush_usage(self) -> None:
        """Writes the last-use times gathered since the previous flush."""
        pending, self._last_used = self._last_used, {}
        await self._store.touch(pending)
