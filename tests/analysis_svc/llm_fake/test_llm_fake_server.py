"""The fake LLM speaks OpenAI's response shape and obeys in-process and HTTP scripts."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import aiohttp
import openai
import pytest

from analysis_svc.llm_fake import Behaviour, FakeLLM

REPO = Path(__file__).resolve().parents[3]
CHAT = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}


async def test_completion_shape(server: FakeLLM, http: aiohttp.ClientSession) -> None:
    server.script([Behaviour.valid("SELL", 0.25, "because")])
    async with http.post(f"{server.base_url}/chat/completions", json=CHAT) as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body["object"] == "chat.completion" and body["model"] == "fake-model"
    assert body["id"].startswith("chatcmpl-") and isinstance(body["created"], int)
    choice = body["choices"][0]
    assert choice["index"] == 0 and choice["finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant" and choice["message"]["refusal"] is None
    assert json.loads(choice["message"]["content"]) == {
        "action": "SELL",
        "confidence": 0.25,
        "rationale": "because",
    }
    assert set(body["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}
    assert server.calls == 1 and server.requests[0]["body"] == CHAT


async def test_script_order_then_default(server: FakeLLM, http: aiohttp.ClientSession) -> None:
    server.script(
        [
            Behaviour.rate_limited(retry_after=3),
            Behaviour.server_error(),
            Behaviour.refusal_answer(),
        ],
        default=Behaviour.content_filter(),
    )
    url = f"{server.base_url}/chat/completions"
    async with http.post(url, json=CHAT) as resp:
        assert resp.status == 429 and resp.headers["Retry-After"] == "3"
        assert (await resp.json())["error"]["message"] == "rate limited"
    async with http.post(url, json=CHAT) as resp:
        assert resp.status == 500
    async with http.post(url, json=CHAT) as resp:
        assert (await resp.json())["choices"][0]["message"]["refusal"]
    for _ in range(2):
        async with http.post(url, json=CHAT) as resp:
            assert (await resp.json())["choices"][0]["finish_reason"] == "content_filter"
    assert server.calls == 5


async def test_http_admin_script_and_calls(server: FakeLLM, http: aiohttp.ClientSession) -> None:
    admin = server.base_url.removesuffix("/v1")
    script = {
        "reset": True,
        "behaviours": [
            {"kind": "valid", "action": "BUY", "confidence": 0.9},
            {"kind": "schema_violation", "action": "YOLO"},
            {"kind": "slow", "delay_s": 0.01, "then": {"kind": "invalid_json"}},
            {"status": 503, "error_message": "full form"},
        ],
    }
    async with http.post(f"{admin}/_script", json=script) as resp:
        assert resp.status == 200 and (await resp.json()) == {"queued": 4}
    contents = []
    for _ in range(4):
        async with http.post(f"{server.base_url}/chat/completions", json=CHAT) as resp:
            body = await resp.json()
            contents.append(
                body["choices"][0]["message"]["content"] if resp.status == 200 else resp.status
            )
    assert json.loads(contents[0])["action"] == "BUY"
    assert json.loads(contents[1])["action"] == "YOLO"
    with pytest.raises(json.JSONDecodeError):
        json.loads(contents[2])
    assert contents[3] == 503
    async with http.get(f"{admin}/_calls") as resp:
        assert (await resp.json()) == {"count": 4, "models": ["fake-model"] * 4}
    async with http.post(f"{admin}/_script", json={"behaviours": [{"kind": "nope"}]}) as resp:
        assert resp.status == 400


@pytest.mark.parametrize(
    "behaviour",
    [
        Behaviour.valid("BUY", 0.5),
        Behaviour.invalid_json(),
        Behaviour.schema_violation(),
        Behaviour.refusal_answer("no"),
        Behaviour.content_filter(),
        Behaviour.slow(1.5, Behaviour.server_error()),
        Behaviour.rate_limited(2.0),
        Behaviour.raw("x", finish_reason="length"),
    ],
)
def test_behaviour_round_trips_json(behaviour: Behaviour) -> None:
    assert Behaviour.from_dict(json.loads(json.dumps(behaviour.to_dict()))) == behaviour


async def test_runs_as_a_separate_process() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "analysis_svc.llm_fake",
        "--port",
        "0",
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), timeout=20)).decode()
        base_url = line.strip().rsplit(" ", 1)[-1]
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
        admin = base_url.removesuffix("/v1")
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            script = {"behaviours": [{"kind": "valid", "action": "HOLD", "confidence": 0.1}]}
            async with http.post(f"{admin}/_script", json=script) as resp:
                assert resp.status == 200
            client = openai.AsyncOpenAI(base_url=base_url, api_key="k", max_retries=0, timeout=5)
            try:
                completion = await client.chat.completions.create(
                    model="m", messages=[{"role": "user", "content": "hi"}]
                )
            finally:
                await client.close()
            assert json.loads(completion.choices[0].message.content or "")["action"] == "HOLD"
            async with http.get(f"{admin}/_calls") as resp:
                assert (await resp.json())["count"] == 1
    finally:
        if proc.returncode is None:
            proc.terminate()  # SIGTERM: the server shuts down cleanly
            try:
                await asyncio.wait_for(proc.wait(), timeout=10)
            except TimeoutError:  # pragma: no cover
                proc.kill()
                await proc.wait()
    assert proc.returncode == 0
