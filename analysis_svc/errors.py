"""The boundary between the analysis domain's plain exceptions and mesh's domain errors.

The domain (analysis_svc/domain) raises exceptions that know nothing of the mesh, so it stays
usable from scripts and benchmarks; the use cases translate them here, once, into the
errors the interceptor turns into canonical statuses with an ErrorInfo reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from analysis_svc.domain.errors import DecisionCacheTimeout, InvalidParameter, NotEnoughCandles
from mesh.errors import FailedPrecondition, InvalidArgument, Unavailable


@contextmanager
def domain_errors() -> Iterator[None]:
    """Re-raises analysis domain errors as mesh domain errors."""
    try:
        yield
    except NotEnoughCandles as exc:
        # The market has too little history yet: a state of the world, not a bad argument.
        raise FailedPrecondition(
            exc.message,
            reason=exc.reason,
            metadata={"needed": str(exc.needed), "got": str(exc.got)},
        ) from None
    except InvalidParameter as exc:
        if exc.field == "candles":  # the exchange's data was unusable, not the caller's input
            raise Unavailable(
                "market data was unusable; try again", reason="CANDLES_INVALID"
            ) from None
        raise InvalidArgument.for_field(exc.field, exc.message, reason=exc.reason) from None
    except DecisionCacheTimeout:
        raise Unavailable(
            "another request is still computing this decision; try again",
            reason=DecisionCacheTimeout.reason,
        ) from None
