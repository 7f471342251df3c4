"""The demo's REST calls, printed as a marketplace developer would read them: each request
(method, path, body) and the answer (status, JSON), with every secret redacted.

Rules it keeps:
- Nothing secret is printed: API keys show their id only (`bm_<key_id>_…`), exchange API
  keys and secrets, dashboard tokens and `access_token` query values show as `…` plus their
  last four characters at most. Redaction happens before printing, on copies.
- A step that does not get the status it expects raises DemoFailed with the step, the status
  and the body (redacted), so the demo stops at the first thing that went wrong.
- Writes carry an Idempotency-Key unique to the run and the step, as the ICP marketplace's
  replicated outcalls do, so a rerun of the demo never replays an earlier run's answers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import httpx

# JSON fields whose values are secrets, wherever they appear in a body.
SECRET_FIELDS = frozenset({"api_key", "api_secret", "secret", "token", "access_token"})
_API_KEY = re.compile(r"^(bm_[A-Za-z0-9]+)_[A-Za-z0-9_-]+$")


class DemoFailed(RuntimeError):
    """A step of the demo got an answer other than the one it needs."""


def redact_value(value: str) -> str:
    """An API key as its id; any other secret as `…` and its last four characters (none
    when it is short)."""
    match = _API_KEY.match(value)
    if match:
        return f"{match.group(1)}_…"
    return "…" + value[-4:] if len(value) >= 16 else "…"


def redact(body: Any) -> Any:
    """A copy of a JSON value with every secret field redacted, at any depth."""
    if isinstance(body, dict):
        return {
            k: redact_value(v) if k in SECRET_FIELDS and isinstance(v, str) else redact(v)
            for k, v in body.items()
        }
    if isinstance(body, list):
        return [redact(item) for item in body]
    return body


def redact_url(url: str) -> str:
    """A URL with its secret query values (access_token) redacted."""
    parts = urlsplit(url)
    query = "&".join(
        f"{k}={redact_value(v) if k in SECRET_FIELDS else v}" for k, v in parse_qsl(parts.query)
    )
    return urlunsplit(parts._replace(query=query))


def shorten(body: Any, limit: int = 900) -> str:
    """Compact JSON for the terminal, cut at `limit` characters."""
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class DemoClient:
    """REST through Envoy as the marketplace calls it: the API key in x-api-key, the acting
    principal (when set) in x-principal-id, one Idempotency-Key per write."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        api_key: str,
        run_id: str,
        say: Callable[[str], None],
    ) -> None:
        self._client = client
        self._api_key = api_key
        self._run_id = run_id
        self._say = say
        self._writes = 0

    def headers(self, principal: str | None) -> dict[str, str]:
        headers = {"x-api-key": self._api_key, "content-type": "application/json"}
        if principal:
            headers["x-principal-id"] = principal
        return headers

    async def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        principal: str | None = None,
        expect: int = 200,
    ) -> dict[str, Any]:
        """One REST call, printed with its answer; the answer's JSON, or DemoFailed."""
        headers = self.headers(principal)
        if method != "GET":
            self._writes += 1
            headers["idempotency-key"] = f"demo-{self._run_id}-{self._writes}"
        shown = f"  > {method} {redact_url(path)}"
        if principal:
            shown += f"   (x-principal-id: {principal[:11]}…)"
        self._say(shown)
        if body is not None:
            self._say(f"    {shorten(redact(body))}")
        resp = await self._client.request(method, path, json=body, headers=headers)
        try:
            answer: dict[str, Any] = resp.json()
        except ValueError:
            answer = {"text": resp.text[:300]}
        self._say(f"  < {resp.status_code} {shorten(redact(answer))}")
        if resp.status_code != expect:
            raise DemoFailed(
                f"{method} {redact_url(path)} answered {resp.status_code}, not {expect}: "
                f"{shorten(redact(answer), 400)}"
            )
        return answer

    async def peek(self, path: str, *, principal: str | None = None) -> dict[str, Any] | None:
        """A GET that is not printed (for polling): its JSON, or None when it did not succeed."""
        resp = await self._client.get(path, headers=self.headers(principal))
        if not resp.is_success:
            return None
        answer: dict[str, Any] = resp.json()
        return answer

    async def sse(
        self, path: str, *, until: Callable[[list[dict[str, Any]]], bool], limit: int, idle_s: float
    ) -> list[dict[str, Any]]:
        """The `data:` items of a Server-Sent Events stream, until `until(items so far)` holds,
        `limit` items came, or nothing came for `idle_s` seconds; printed as they arrive."""
        self._say(f"  > GET {redact_url(path)}   (Server-Sent Events)")
        items: list[dict[str, Any]] = []
        try:
            async with self._client.stream("GET", path, timeout=idle_s) as resp:
                if resp.status_code != 200:
                    await resp.aread()
                    raise DemoFailed(f"GET {redact_url(path)} answered {resp.status_code}")
                async for line in resp.aiter_lines():
                    if not line.startswith("data: "):
                        continue
                    item = json.loads(line[len("data: ") :])
                    items.append(item)
                    self._say(f"  < data: {shorten(redact(item), 300)}")
                    if until(items) or len(items) >= limit:
                        break
        except httpx.ReadTimeout:
            self._say(f"  (nothing more for {idle_s:.0f} s)")
        return items
