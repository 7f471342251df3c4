"""Maps domain errors to canonical gRPC statuses carrying google.rpc.ErrorInfo (and BadRequest
or RetryInfo where they apply: RESOURCE_EXHAUSTED always, UNAVAILABLE when it knows when). Envoy's convert_grpc_status turns the details into JSON for
REST callers."""

from __future__ import annotations

import math

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from mesh.errors import DomainError, Internal, ResourceExhausted, Unavailable

ERROR_DOMAIN = "botmesh.dev"
# An error's text can quote the request (a field path, an unknown update path). Clipped, so
# a status always fits in the trailers (gRPC metadata is limited to 16 KiB): an oversize
# one would make the server reset the stream, which the caller sees as UNAVAILABLE.
MAX_MESSAGE_CHARS = 1024
MAX_DETAIL_CHARS = 256


def clip(text: str, limit: int = MAX_DETAIL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def to_status(error: DomainError) -> grpc.Status:
    return rpc_status.to_status(status_proto(error))


def from_status_bytes(payload: bytes) -> grpc.Status:
    """A status recorded earlier (by idempotency), replayed as it was."""
    return rpc_status.to_status(status_pb2.Status.FromString(payload))


def status_proto(error: DomainError) -> status_pb2.Status:
    code = getattr(code_pb2, error.code)
    details = [
        error_details_pb2.ErrorInfo(
            reason=error.reason,
            domain=ERROR_DOMAIN,
            metadata={clip(k): clip(v) for k, v in error.metadata.items()},
        )
    ]
    extra: list[object] = []
    if error.violations:
        extra.append(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=clip(v.field), description=clip(v.description, MAX_MESSAGE_CHARS)
                    )
                    for v in error.violations
                ]
            )
        )
    retry_after_s = (
        error.retry_after_s if isinstance(error, ResourceExhausted | Unavailable) else None
    )
    if retry_after_s is not None:
        seconds = max(0.0, retry_after_s)
        extra.append(
            error_details_pb2.RetryInfo(
                retry_delay=duration_pb2.Duration(
                    seconds=int(seconds), nanos=int((seconds - math.floor(seconds)) * 1e9)
                )
            )
        )
    packed = []
    for detail in [*details, *extra]:
        item = any_pb2.Any()
        item.Pack(detail)  # type: ignore[arg-type]
        packed.append(item)
    return status_pb2.Status(
        code=code, message=clip(error.message, MAX_MESSAGE_CHARS), details=packed
    )


def internal_status() -> grpc.Status:
    """What a caller sees of an unexpected failure: no trace, no detail beyond the reason."""
    return to_status(Internal("internal error"))
