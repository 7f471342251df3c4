"""Domain errors. Domain code raises these; the error interceptor turns them into a canonical
gRPC status with a google.rpc.ErrorInfo reason. No grpc import here, on purpose."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FieldViolation:
    field: str
    description: str


class DomainError(Exception):
    """Base of errors that are the caller's to see. `code` names a grpc.StatusCode."""

    code = "UNKNOWN"
    default_reason = "UNKNOWN"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        metadata: dict[str, str] | None = None,
        violations: list[FieldViolation] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason
        self.metadata = metadata or {}
        self.violations = violations or []


class InvalidArgument(DomainError):
    code = "INVALID_ARGUMENT"
    default_reason = "INVALID_ARGUMENT"

    @classmethod
    def for_field(
        cls, field_path: str, description: str, reason: str = "INVALID_FIELD"
    ) -> InvalidArgument:
        return cls(
            f"{field_path}: {description}",
            reason=reason,
            metadata={"field": field_path},
            violations=[FieldViolation(field_path, description)],
        )


class NotFound(DomainError):
    code = "NOT_FOUND"
    default_reason = "NOT_FOUND"


class AlreadyExists(DomainError):
    code = "ALREADY_EXISTS"
    default_reason = "ALREADY_EXISTS"


class FailedPrecondition(DomainError):
    code = "FAILED_PRECONDITION"
    default_reason = "FAILED_PRECONDITION"


class Unauthenticated(DomainError):
    code = "UNAUTHENTICATED"
    default_reason = "UNAUTHENTICATED"


class PermissionDenied(DomainError):
    code = "PERMISSION_DENIED"
    default_reason = "PERMISSION_DENIED"


class Aborted(DomainError):
    code = "ABORTED"
    default_reason = "ABORTED"


DEFAULT_RETRY_AFTER_S = 1.0


class Unavailable(DomainError):
    """A transient failure: nothing was done, and the caller may retry after
    `retry_after_s` (sent as google.rpc.RetryInfo). Every UNAVAILABLE says when: a second
    unless the raiser knows better, so no 503 leaves a caller guessing."""

    code = "UNAVAILABLE"
    default_reason = "UNAVAILABLE"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        metadata: dict[str, str] | None = None,
        retry_after_s: float = DEFAULT_RETRY_AFTER_S,
    ) -> None:
        super().__init__(message, reason=reason, metadata=metadata)
        self.retry_after_s = retry_after_s


class Unimplemented(DomainError):
    code = "UNIMPLEMENTED"
    default_reason = "NOT_IMPLEMENTED"


class Internal(DomainError):
    """An unexpected failure, as the caller sees it: never with the cause."""

    code = "INTERNAL"
    default_reason = "INTERNAL"


class ResourceExhausted(DomainError):
    code = "RESOURCE_EXHAUSTED"
    default_reason = "RATE_LIMITED"

    def __init__(self, message: str, *, retry_after_s: float, reason: str | None = None) -> None:
        super().__init__(message, reason=reason)
        self.retry_after_s = retry_after_s
