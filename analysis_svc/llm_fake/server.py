"""A loopback OpenAI-compatible chat-completions server whose answers tests script.

A real HTTP server rather than a mocked client, so the advisor is exercised through the
real openai client: its timeouts, status-code exceptions and response parsing.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import deque
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from analysis_svc.llm_fake.behaviours import Behaviour

_ids = itertools.count(1)


class FakeLLM:
    """The server's state and control surface; create with `start_fake_llm`."""

    def __init__(self) -> None:
        self._queue: deque[Behaviour] = deque()
        self._default = Behaviour.valid()
        self.requests: list[dict[str, Any]] = []
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # --- in-process scripting ---------------------------------------------------------

    def script(self, behaviours: Iterable[Behaviour], default: Behaviour | None = None) -> None:
        """Replaces the queue: calls consume it in order, then get the default."""
        self._queue = deque(behaviours)
        if default is not None:
            self._default = default

    def set_default(self, behaviour: Behaviour) -> None:
        self._default = behaviour

    def reset(self) -> None:
        self._queue.clear()
        self._default = Behaviour.valid()
        self.requests.clear()

    @property
    def calls(self) -> int:
        return len(self.requests)

    # --- HTTP -------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat_completions)
        app.router.add_post("/_script", self._admin_script)
        app.router.add_get("/_calls", self._admin_calls)
        return app

    async def _chat_completions(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _error(400, "request body is not JSON")
        self.requests.append(
            {"body": body, "authorization": request.headers.get("Authorization", "")}
        )
        behaviour = self._queue.popleft() if self._queue else self._default
        if behaviour.delay_s > 0:
            await asyncio.sleep(behaviour.delay_s)
        if behaviour.status != 200:
            headers = {}
            if behaviour.retry_after is not None:
                headers["Retry-After"] = f"{behaviour.retry_after:g}"
            return _error(behaviour.status, behaviour.error_message, headers)
        return web.json_response(_completion(str(body.get("model", "fake")), behaviour))

    async def _admin_script(self, request: web.Request) -> web.Response:
        """Body: {"behaviours": [...], "default": {...}, "reset": bool}."""
        try:
            data = await request.json()
            if data.get("reset"):
                self.reset()
            behaviours = [Behaviour.from_dict(b) for b in data.get("behaviours", [])]
            default = Behaviour.from_dict(data["default"]) if data.get("default") else None
        except (json.JSONDecodeError, TypeError, ValueError, AttributeError) as exc:
            return _error(400, f"bad script: {exc}")
        self.script(behaviours, default)
        return web.json_response({"queued": len(behaviours)})

    async def _admin_calls(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"count": self.calls, "models": [r["body"].get("model") for r in self.requests]}
        )

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self, host: str, port: int) -> None:
        # handler_cancellation: a client that timed out disconnects, which ends the sleep.
        runner = web.AppRunner(self.app(), handler_cancellation=True, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        bound_host, bound_port = runner.addresses[0][:2]
        self.base_url = f"http://{bound_host}:{bound_port}/v1"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


async def start_fake_llm(host: str = "127.0.0.1", port: int = 0) -> FakeLLM:
    """Starts a fake LLM on loopback; port 0 picks a free port (see `.base_url`)."""
    server = FakeLLM()
    await server.start(host, port)
    return server


def _completion(model: str, behaviour: Behaviour) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-fake-{next(_ids)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": behaviour.content,
                    "refusal": behaviour.refusal,
                },
                "finish_reason": behaviour.finish_reason,
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70},
    }


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    body = {"error": {"message": message, "type": "fake_error", "code": str(status)}}
    return web.json_response(body, status=status, headers=headers)
