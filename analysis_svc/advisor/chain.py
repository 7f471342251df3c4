"""The LLM advisor: asks an ordered chain of OpenAI-compatible endpoints to review a
strategy signal, within strict bounds, and never raises to its caller.

Bounds: one call per endpoint (client retries off), our own per-call timeout, a circuit
breaker per endpoint, re-validation of the structured answer, and deterministic clamps
so the model can only confirm, weaken or veto.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from typing import cast

import openai
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam
from openai.types.shared_params import ResponseFormatJSONSchema

from analysis_svc.domain.advisor.circuit_breaker import CircuitBreaker
from analysis_svc.domain.advisor.clamp import clamp
from analysis_svc.domain.advisor.config import AdvisorConfig, EndpointConfig, FallbackPolicy
from analysis_svc.domain.advisor.prompt import PROMPT_VERSION, AdvisorContext, build_messages
from analysis_svc.domain.advisor.result import (
    ADVISOR_FALLBACK_HOLD,
    ADVISOR_FALLBACK_STRATEGY,
    ADVISOR_NONE,
    AdvisorOutcome,
    AdvisorResult,
    Attempt,
    EndpointFailure,
)
from analysis_svc.domain.advisor.schema import Advice, AdviceRejected, parse_advice, response_format
from analysis_svc.domain.signal import HOLD_CONFIDENCE, Action, Signal

logger = logging.getLogger("botmesh.analysis.advisor")

KeyResolver = Callable[[str], str | None]
ClientFactory = Callable[[EndpointConfig, str], openai.AsyncOpenAI]

_LOGGED_CONTENT_CHARS = 4000
_NO_KEY = "unused"  # the client insists on a key; keyless local endpoints ignore it


class _EndpointFailed(Exception):
    def __init__(self, failure: EndpointFailure, detail: str = "") -> None:
        super().__init__(f"{failure}: {detail}")
        self.failure = failure
        self.detail = detail


def default_client_factory(endpoint: EndpointConfig, api_key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=endpoint.base_url,
        api_key=api_key,
        max_retries=0,
        timeout=endpoint.timeout_s,
    )


class Advisor:
    """Shared by all requests of a process: it owns the breakers and HTTP clients."""

    def __init__(
        self,
        config: AdvisorConfig,
        *,
        resolve_key: KeyResolver = os.environ.get,
        clock: Callable[[], float] = time.monotonic,
        client_factory: ClientFactory = default_client_factory,
    ) -> None:
        self.config = config
        self._resolve_key = resolve_key
        self._client_factory = client_factory
        self._breakers = {
            e.name: CircuitBreaker(config.failure_threshold, config.cooldown_s, clock)
            for e in config.endpoints
        }
        self._clients: dict[str, tuple[str, openai.AsyncOpenAI]] = {}
        self._response_format = response_format(config.max_rationale_chars)

    def identity(self) -> str:
        return self.config.identity()

    def breaker(self, endpoint_name: str) -> CircuitBreaker:
        return self._breakers[endpoint_name]

    def breakers(self) -> dict[str, CircuitBreaker]:
        """Every endpoint's breaker, by endpoint name (a copy)."""
        return dict(self._breakers)

    def would_call(self, strategy_signal: Signal) -> bool:
        """Whether advise() would reach an endpoint for this signal (what a budget charges)."""
        if not self.config.endpoints:
            return False
        return strategy_signal.action is not Action.HOLD or self.config.consult_on_hold

    async def advise(self, context: AdvisorContext, strategy_signal: Signal) -> AdvisorResult:
        """Reviews `strategy_signal`; always returns, never raises (except cancellation)."""
        try:
            return await self._advise(context, strategy_signal)
        except Exception:  # a bug here must not fail Analyze: fall back like an outage
            logger.exception("advisor failed unexpectedly; falling back")
            return self._fallback(strategy_signal, ())

    async def aclose(self) -> None:
        clients, self._clients = self._clients, {}
        for _, client in clients.values():
            await client.close()

    async def _advise(self, context: AdvisorContext, strategy_signal: Signal) -> AdvisorResult:
        if not self.config.endpoints:
            return AdvisorResult(
                strategy_signal, strategy_signal, ADVISOR_NONE, AdvisorOutcome.NO_ENDPOINTS
            )
        if not self.would_call(strategy_signal):
            return AdvisorResult(
                strategy_signal,
                strategy_signal,
                ADVISOR_NONE,
                AdvisorOutcome.SKIPPED_STRATEGY_HOLD,
            )
        messages = build_messages(context, strategy_signal, self.config.max_rationale_chars)
        attempts: list[Attempt] = []
        for endpoint in self.config.endpoints:
            breaker = self._breakers[endpoint.name]
            if not breaker.try_acquire():
                attempts.append(Attempt(endpoint.name, EndpointFailure.CIRCUIT_OPEN, 0.0))
                continue
            started = time.monotonic()
            try:
                advice = await self._ask(endpoint, messages)
            except _EndpointFailed as failed:
                self._record_failure(endpoint, failed, started, attempts)
                continue
            except Exception as exc:  # an unforeseen client error: still only this endpoint
                unexpected = _EndpointFailed(EndpointFailure.UNEXPECTED_ERROR, type(exc).__name__)
                self._record_failure(endpoint, unexpected, started, attempts)
                continue
            except BaseException:
                breaker.abandon()  # cancelled by our caller: no verdict on the endpoint
                raise
            breaker.record_success()
            attempts.append(Attempt(endpoint.name, None, time.monotonic() - started))
            signal, clamped = clamp(strategy_signal, advice, endpoint.name)
            return AdvisorResult(
                signal,
                strategy_signal,
                endpoint.name,
                AdvisorOutcome(clamped.value),
                tuple(attempts),
                PROMPT_VERSION,
            )
        return self._fallback(strategy_signal, tuple(attempts))

    def _record_failure(
        self,
        endpoint: EndpointConfig,
        failed: _EndpointFailed,
        started: float,
        attempts: list[Attempt],
    ) -> None:
        self._breakers[endpoint.name].record_failure()
        latency = time.monotonic() - started
        attempts.append(Attempt(endpoint.name, failed.failure, latency, failed.detail))
        logger.warning(
            "advisor endpoint %s failed: %s %s", endpoint.name, failed.failure, failed.detail
        )

    def _fallback(self, strategy_signal: Signal, attempts: tuple[Attempt, ...]) -> AdvisorResult:
        if self.config.on_all_failed is FallbackPolicy.HOLD:
            hold = Signal(
                Action.HOLD,
                HOLD_CONFIDENCE,
                f"advisor unavailable; holding instead of {strategy_signal.action}",
                strategy_signal.indicators,
            )
            return AdvisorResult(
                hold,
                strategy_signal,
                ADVISOR_FALLBACK_HOLD,
                AdvisorOutcome.ALL_FAILED_FALLBACK_HOLD,
                attempts,
                PROMPT_VERSION,
            )
        return AdvisorResult(
            strategy_signal,
            strategy_signal,
            ADVISOR_FALLBACK_STRATEGY,
            AdvisorOutcome.ALL_FAILED_FALLBACK_STRATEGY,
            attempts,
            PROMPT_VERSION,
        )

    async def _ask(self, endpoint: EndpointConfig, messages: list[dict[str, str]]) -> Advice:
        client = self._client(endpoint)
        try:
            # Our own bound: the client's timeout applies per network operation, so a
            # server trickling bytes could otherwise hold us far longer.
            async with asyncio.timeout(endpoint.timeout_s):
                completion = await client.chat.completions.create(
                    model=endpoint.model,
                    messages=cast("list[ChatCompletionMessageParam]", messages),
                    response_format=cast("ResponseFormatJSONSchema", self._response_format),
                )
        except (TimeoutError, openai.APITimeoutError):
            raise _EndpointFailed(EndpointFailure.TIMEOUT, f"> {endpoint.timeout_s}s") from None
        except openai.RateLimitError as exc:
            retry_after = exc.response.headers.get("retry-after", "")
            raise _EndpointFailed(
                EndpointFailure.RATE_LIMITED, f"429 retry-after={retry_after}"
            ) from None
        except openai.APIStatusError as exc:
            failure = (
                EndpointFailure.SERVER_ERROR
                if exc.status_code >= 500
                else EndpointFailure.HTTP_ERROR
            )
            raise _EndpointFailed(failure, f"HTTP {exc.status_code}") from None
        except openai.APIConnectionError as exc:
            raise _EndpointFailed(EndpointFailure.CONNECTION_ERROR, type(exc).__name__) from None
        except openai.OpenAIError as exc:
            raise _EndpointFailed(EndpointFailure.UNEXPECTED_ERROR, type(exc).__name__) from None
        return self._read(endpoint, completion)

    def _read(self, endpoint: EndpointConfig, completion: ChatCompletion) -> Advice:
        if not completion.choices:
            raise _EndpointFailed(EndpointFailure.EMPTY_RESPONSE, "no choices")
        choice = completion.choices[0]
        content = choice.message.content
        refusal = getattr(choice.message, "refusal", None)
        logger.info(
            "advisor raw output endpoint=%s model=%s prompt_version=%s finish_reason=%s "
            "refusal=%r content=%r",
            endpoint.name,
            endpoint.model,
            PROMPT_VERSION,
            choice.finish_reason,
            refusal,
            (content or "")[:_LOGGED_CONTENT_CHARS],
        )
        if refusal:
            raise _EndpointFailed(EndpointFailure.REFUSED, "model refused")
        if choice.finish_reason == "content_filter":
            raise _EndpointFailed(EndpointFailure.CONTENT_FILTERED, "content filter")
        if choice.finish_reason == "length":
            raise _EndpointFailed(EndpointFailure.TRUNCATED, "answer cut at max tokens")
        try:
            return parse_advice(content, self.config.max_rationale_chars)
        except AdviceRejected as rejected:
            raise _EndpointFailed(EndpointFailure(rejected.reason), str(rejected)) from None

    def _client(self, endpoint: EndpointConfig) -> openai.AsyncOpenAI:
        """One client per endpoint (connection reuse), rebuilt if its key was rotated."""
        key = self._resolve_key(endpoint.api_key_ref) if endpoint.api_key_ref else _NO_KEY
        if not key:
            raise _EndpointFailed(EndpointFailure.MISSING_API_KEY, endpoint.api_key_ref)
        cached = self._clients.get(endpoint.name)
        if cached is not None and cached[0] == key:
            return cached[1]
        client = self._client_factory(endpoint, key)
        self._clients[endpoint.name] = (key, client)
        return client
