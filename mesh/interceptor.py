"""The interceptor: the kit's stages around every RPC, in order
request id -> metrics -> auth -> validation -> idempotency -> handler -> error mapping.

Error mapping: a DomainError answers as it says; an outage of Redis or the database
(mesh/dependencies.py) answers UNAVAILABLE with RetryInfo, decided here once for every RPC;
anything else is a bug and answers INTERNAL without detail.

The stages live in their own modules (logs, metrics, auth, validation, rpc_status). They run
from one wrapper per method, built when the service registers its servicers: grpc.aio's own
ServerInterceptor API costs an extra coroutine and handler lookup on every call, which a
wrapper applied once at registration avoids.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.protobuf.message import DecodeError, Message

from mesh import metrics
from mesh.access import access_for, is_mutation, response_class
from mesh.auth import Authenticator, current_caller
from mesh.dependencies import as_unavailable
from mesh.errors import DomainError, InvalidArgument, Unimplemented
from mesh.idempotency import HEADER as IDEMPOTENCY_HEADER
from mesh.idempotency import IdempotencyStore, Outcome, check_key
from mesh.logs import request_id
from mesh.rpc_status import from_status_bytes, internal_status, status_proto, to_status
from mesh.validation import validate

log = logging.getLogger("botmesh.rpc")
Handler = Any  # grpc.RpcMethodHandler; grpc ships no type information


def outcome_code(exc: BaseException) -> str:
    """The status code the error stage will answer with, for the metrics."""
    if isinstance(exc, DomainError):
        return exc.code
    return "UNAVAILABLE" if as_unavailable(exc) is not None else "INTERNAL"


class Undecodable:
    """Stands for request bytes that are no message of the method's type (junk, a string
    that is not UTF-8): refused as INVALID_ARGUMENT once the caller is authenticated, where
    grpc would answer UNKNOWN."""


UNDECODABLE = Undecodable()


def lenient(deserialize: Any) -> Any:
    def parse(data: bytes) -> Message | Undecodable:
        try:
            return deserialize(data)  # type: ignore[no-any-return]
        except DecodeError:
            return UNDECODABLE

    return parse


def code_number(error: DomainError) -> int:
    return int(getattr(grpc.StatusCode, error.code).value[0])


class InterceptingServer:
    """Stands in for the grpc.aio server while servicers register, wrapping each method
    handler once. Generated `add_*Servicer_to_server` functions register every method both
    as a generic handler and as a registered method handler; the registered ones take
    precedence, so the generic registration is rebuilt here from the wrapped handlers."""

    def __init__(
        self,
        server: grpc.aio.Server,
        service: str,
        auth: Authenticator,
        idempotency: IdempotencyStore | None = None,
    ) -> None:
        self._server = server
        self._service = service
        self._auth = auth
        self._idempotency = idempotency

    def add_generic_rpc_handlers(self, handlers: object) -> None:
        """Ignored: add_registered_method_handlers() registers the wrapped equivalent."""

    def add_registered_method_handlers(
        self, service_name: str, handlers: dict[str, Handler]
    ) -> None:
        wrapped = {
            name: wrap_handler(
                f"/{service_name}/{name}", handler, self._service, self._auth, self._idempotency
            )
            for name, handler in handlers.items()
        }
        self._server.add_registered_method_handlers(service_name, wrapped)
        self._server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(service_name, wrapped),)
        )


def wrap_handler(
    method: str,
    handler: Handler,
    service: str,
    auth: Authenticator,
    idempotency: IdempotencyStore | None = None,
) -> Handler:
    access = access_for(method)
    if access is None:  # health, reflection: infrastructure, left as they are
        return handler
    name = method.rsplit("/", 1)[-1]
    idempotent = idempotency is not None and is_mutation(method)
    stats = metrics.RPC.method(service, name)

    async def begin(request: Message, context: grpc.aio.ServicerContext) -> dict[str, str]:
        md = {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
        request_id.set(md.get("x-request-id") or uuid.uuid4().hex)
        current_caller.set(await auth.authenticate(access, md))
        if isinstance(request, Undecodable):
            raise InvalidArgument("the request is not a valid message", reason="MALFORMED_REQUEST")
        validate(request)
        return md

    def placeholder(exc: BaseException) -> BaseException:
        """A generated base servicer's placeholder answers UNIMPLEMENTED (and is counted so)."""
        if isinstance(exc, NotImplementedError):
            return Unimplemented(f"{name} is not available yet")
        return exc

    async def fail(exc: BaseException, context: grpc.aio.ServicerContext) -> str:
        outage = None if isinstance(exc, DomainError) else as_unavailable(exc)
        if outage is not None:  # Redis or the database is down: retry, not a bug
            log.warning(
                "rpc unavailable",
                extra={
                    "fields": {
                        "method": name,
                        "dependency": outage.metadata["dependency"],
                        "error": type(exc).__name__,
                    }
                },
            )
            await context.abort_with_status(to_status(outage))
        if isinstance(exc, DomainError):
            log.info(
                "rpc refused",
                extra={"fields": {"method": name, "code": exc.code, "reason": exc.reason}},
            )
            await context.abort_with_status(to_status(exc))
        log.error("rpc failed", exc_info=exc, extra={"fields": {"method": name}})
        await context.abort_with_status(internal_status())
        raise AssertionError("unreachable")  # abort_with_status always raises

    if handler.unary_unary is not None:
        behavior = handler.unary_unary
        response_type = response_class(method) if idempotent else None

        async def once(request: Message, context: grpc.aio.ServicerContext) -> Outcome:
            """Runs the handler, turning its answer or domain error into storable bytes."""
            try:
                response = await behavior(request, context)
            except DomainError as exc:
                return Outcome(code=code_number(exc), payload=status_proto(exc).SerializeToString())
            return Outcome(code=0, payload=response.SerializeToString(deterministic=True))

        async def replayable(
            request: Message, context: grpc.aio.ServicerContext, key: str
        ) -> Message:
            assert idempotency is not None and response_type is not None
            check_key(key)
            who = current_caller.get()
            # The record belongs to the caller: its key and the principal it acts for.
            outcome = await idempotency.run(
                api_key_id=(who.key_id if who and who.key_id else "internal"),
                principal=(who.principal or "") if who else "",
                key=key,
                method=method,
                request=request.SerializeToString(deterministic=True),
                # Runs shielded from this request: a client abort does not cancel it.
                execute=lambda: once(request, context),
            )
            if outcome.code != 0:
                await context.abort_with_status(from_status_bytes(outcome.payload))
            # Every copy, the first included, answers with the same recorded bytes.
            return response_type.FromString(outcome.payload)

        async def unary(request: Message, context: grpc.aio.ServicerContext) -> Message:
            start = time.perf_counter()
            stats.begin()
            code = "OK"
            try:
                md = await begin(request, context)
                key = md.get(IDEMPOTENCY_HEADER) if idempotent else None
                if key is not None:
                    return await replayable(request, context, key)
                return await behavior(request, context)
            except grpc.aio.AbortError:
                code = "ABORTED_BY_HANDLER"
                raise
            except Exception as exc:
                error = placeholder(exc)
                code = outcome_code(error)
                await fail(error, context)
                raise
            finally:
                stats.end(code, time.perf_counter() - start)

        return grpc.unary_unary_rpc_method_handler(
            unary,
            request_deserializer=lenient(handler.request_deserializer),
            response_serializer=handler.response_serializer,
        )

    if handler.unary_stream is not None:
        stream_behavior = handler.unary_stream

        async def stream(
            request: Message, context: grpc.aio.ServicerContext
        ) -> AsyncIterator[Message]:
            stats.begin()
            code = "OK"
            try:
                await begin(request, context)
                async for item in stream_behavior(request, context):
                    yield item
            except grpc.aio.AbortError:
                code = "ABORTED_BY_HANDLER"
                raise
            except Exception as exc:
                error = placeholder(exc)
                code = outcome_code(error)
                await fail(error, context)
                raise
            finally:
                stats.end(code)

        return grpc.unary_stream_rpc_method_handler(
            stream,
            request_deserializer=lenient(handler.request_deserializer),
            response_serializer=handler.response_serializer,
        )
    return handler
