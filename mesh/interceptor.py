"""The interceptor: the kit's stages around every RPC, in order
request id -> metrics -> auth -> validation -> handler -> error mapping.

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
from google.protobuf.message import Message

from mesh import metrics
from mesh.access import access_for
from mesh.auth import Authenticator, current_caller
from mesh.errors import DomainError
from mesh.logs import request_id
from mesh.rpc_status import internal_status, to_status
from mesh.validation import validate

log = logging.getLogger("botmesh.rpc")
Handler = Any  # grpc.RpcMethodHandler; grpc ships no type information


class InterceptingServer:
    """Stands in for the grpc.aio server while servicers register, wrapping each method
    handler once. Generated `add_*Servicer_to_server` functions register every method both
    as a generic handler and as a registered method handler; the registered ones take
    precedence, so the generic registration is rebuilt here from the wrapped handlers."""

    def __init__(self, server: grpc.aio.Server, service: str, auth: Authenticator) -> None:
        self._server = server
        self._service = service
        self._auth = auth

    def add_generic_rpc_handlers(self, handlers: object) -> None:
        """Ignored: add_registered_method_handlers() registers the wrapped equivalent."""

    def add_registered_method_handlers(
        self, service_name: str, handlers: dict[str, Handler]
    ) -> None:
        wrapped = {
            name: wrap_handler(f"/{service_name}/{name}", handler, self._service, self._auth)
            for name, handler in handlers.items()
        }
        self._server.add_registered_method_handlers(service_name, wrapped)
        self._server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(service_name, wrapped),)
        )


def wrap_handler(method: str, handler: Handler, service: str, auth: Authenticator) -> Handler:
    access = access_for(method)
    if access is None:  # health, reflection: infrastructure, left as they are
        return handler
    name = method.rsplit("/", 1)[-1]
    latency = metrics.RPC_LATENCY.labels(service, name)
    in_flight = metrics.RPC_IN_FLIGHT.labels(service, name)
    counters: dict[str, Any] = {}

    def count(code: str) -> None:
        counter = counters.get(code)
        if counter is None:
            counter = counters[code] = metrics.RPC_TOTAL.labels(service, name, code)
        counter.inc()

    async def begin(request: Message, context: grpc.aio.ServicerContext) -> None:
        md = {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
        request_id.set(md.get("x-request-id") or uuid.uuid4().hex)
        current_caller.set(await auth.authenticate(access, md))
        validate(request)

    async def fail(exc: BaseException, context: grpc.aio.ServicerContext) -> str:
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

        async def unary(request: Message, context: grpc.aio.ServicerContext) -> Message:
            start = time.perf_counter()
            in_flight.inc()
            code = "OK"
            try:
                await begin(request, context)
                return await behavior(request, context)
            except grpc.aio.AbortError:
                code = "ABORTED_BY_HANDLER"
                raise
            except Exception as exc:
                code = exc.code if isinstance(exc, DomainError) else "INTERNAL"
                await fail(exc, context)
                raise
            finally:
                in_flight.dec()
                latency.observe(time.perf_counter() - start)
                count(code)

        return grpc.unary_unary_rpc_method_handler(
            unary,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    if handler.unary_stream is not None:
        stream_behavior = handler.unary_stream

        async def stream(
            request: Message, context: grpc.aio.ServicerContext
        ) -> AsyncIterator[Message]:
            in_flight.inc()
            code = "OK"
            try:
                await begin(request, context)
                async for item in stream_behavior(request, context):
                    yield item
            except grpc.aio.AbortError:
                code = "ABORTED_BY_HANDLER"
                raise
            except Exception as exc:
                code = exc.code if isinstance(exc, DomainError) else "INTERNAL"
                await fail(exc, context)
                raise
            finally:
                in_flight.dec()
                count(code)

        return grpc.unary_stream_rpc_method_handler(
            stream,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    return handler
