"""Domain errors become canonical statuses with ErrorInfo (and BadRequest, RetryInfo)."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2, status_pb2

from mesh.errors import InvalidArgument, NotFound, ResourceExhausted, Unavailable
from mesh.rpc_status import ERROR_DOMAIN, internal_status, to_status


def details(status: grpc.Status) -> status_pb2.Status:
    raw = dict(status.trailing_metadata)["grpc-status-details-bin"]
    parsed = status_pb2.Status()
    parsed.ParseFromString(raw)
    return parsed


def test_invalid_argument_carries_error_info_and_field_violation() -> None:
    status = to_status(InvalidArgument.for_field("name", "is required"))
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT
    parsed = details(status)
    info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
    assert parsed.details[0].Unpack(info) and parsed.details[1].Unpack(bad)
    assert (info.reason, info.domain, dict(info.metadata)) == (
        "INVALID_FIELD",
        ERROR_DOMAIN,
        {"field": "name"},
    )
    assert bad.field_violations[0].field == "name"


def test_rate_limits_carry_a_retry_delay() -> None:
    status = to_status(ResourceExhausted("slow down", retry_after_s=1.5))
    assert status.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    retry = error_details_pb2.RetryInfo()
    assert details(status).details[1].Unpack(retry)
    assert (retry.retry_delay.seconds, retry.retry_delay.nanos) == (1, 500_000_000)


def test_every_unavailable_says_when_to_retry() -> None:
    status = to_status(Unavailable("still running", reason="IN_PROGRESS", retry_after_s=2.5))
    assert status.code == grpc.StatusCode.UNAVAILABLE
    retry = error_details_pb2.RetryInfo()
    assert details(status).details[1].Unpack(retry)
    assert (retry.retry_delay.seconds, retry.retry_delay.nanos) == (2, 500_000_000)
    unsaid = error_details_pb2.RetryInfo()
    assert details(to_status(Unavailable("down"))).details[1].Unpack(unsaid)
    assert unsaid.retry_delay.seconds == 1, "a second when the raiser does not say"


def test_not_found_and_internal_say_nothing_more_than_their_reason() -> None:
    assert to_status(NotFound("bot x does not exist")).code == grpc.StatusCode.NOT_FOUND
    status = internal_status()
    assert status.code == grpc.StatusCode.INTERNAL
    assert status.details == "internal error"


def test_an_error_quoting_a_huge_input_still_fits_in_the_trailers() -> None:
    quoted = ", ".join(f"path_{i}" for i in range(5000))
    status = to_status(InvalidArgument.for_field("x" * 20_000, f"cannot update {quoted}"))
    assert sum(len(k) + len(v) for k, v in status.trailing_metadata) < 8 * 1024
    parsed = details(status)
    info = error_details_pb2.ErrorInfo()
    assert parsed.details[0].Unpack(info) and info.reason == "INVALID_FIELD"
    assert parsed.message.startswith("xxx") and parsed.message.endswith("\u2026")
