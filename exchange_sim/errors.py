"""Binance error codes, messages and HTTP statuses.

Clients (ccxt in particular) map Binance's numeric ``code`` and sometimes the exact ``msg`` to
exception classes, so the simulator must reproduce both verbatim.  Every rule violation in the
domain modules raises :class:`BinanceError`; the HTTP layer turns it into Binance's JSON body.
"""

from __future__ import annotations

LEGAL_DECIMAL = r"^([0-9]{1,20})(\.[0-9]{1,20})?$"


class BinanceError(Exception):
    """A Binance API error: ``{"code": code, "msg": msg}`` with an HTTP status."""

    def __init__(self, code: int, msg: str, http_status: int = 400) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.http_status = http_status

    def body(self) -> dict[str, object]:
        """The JSON body Binance sends for this error."""
        return {"code": self.code, "msg": self.msg}


def mandatory(param: str) -> BinanceError:
    """-1102: a required parameter is missing or malformed."""
    return BinanceError(
        -1102, f"Mandatory parameter '{param}' was not sent, was empty/null, or malformed."
    )


def illegal_chars(param: str) -> BinanceError:
    """-1100: a numeric parameter does not match Binance's decimal grammar."""
    return BinanceError(
        -1100, f"Illegal characters found in parameter '{param}'; legal range is '{LEGAL_DECIMAL}'."
    )


def not_required(param: str) -> BinanceError:
    """-1106: a parameter was sent that this order type does not accept."""
    return BinanceError(-1106, f"Parameter '{param}' sent when not required.")


def bad_symbol() -> BinanceError:
    """-1121: unknown trading pair."""
    return BinanceError(-1121, "Invalid symbol.")


def bad_interval() -> BinanceError:
    """-1120: unknown kline interval."""
    return BinanceError(-1120, "Invalid interval.")


def filter_failure(name: str) -> BinanceError:
    """-1013: an exchangeInfo filter (LOT_SIZE, PRICE_FILTER, NOTIONAL ...) rejected the order."""
    return BinanceError(-1013, f"Filter failure: {name}")


def duplicate_order() -> BinanceError:
    """-2010: newClientOrderId equals the id of an order that is still open."""
    return BinanceError(-2010, "Duplicate order sent.")


def insufficient_balance() -> BinanceError:
    """-2010: not enough free balance to place the order."""
    return BinanceError(-2010, "Account has insufficient balance for requested action.")


def would_take() -> BinanceError:
    """-2010: a LIMIT_MAKER order would have matched immediately."""
    return BinanceError(-2010, "Order would immediately match and take.")


def unknown_order_cancel() -> BinanceError:
    """-2011: cancel of an order that does not exist or is no longer open."""
    return BinanceError(-2011, "Unknown order sent.")


def no_such_order() -> BinanceError:
    """-2013: query of an order that does not exist."""
    return BinanceError(-2013, "Order does not exist.")


def bad_api_key_format() -> BinanceError:
    """-2014: no (or a malformed) X-MBX-APIKEY header on a signed endpoint."""
    return BinanceError(-2014, "API-key format invalid.", 401)


def rejected_key() -> BinanceError:
    """-2015: unknown key, IP not whitelisted, or missing permission."""
    return BinanceError(-2015, "Invalid API-key, IP, or permissions for action.", 401)


def bad_signature() -> BinanceError:
    """-1022: HMAC does not match."""
    return BinanceError(-1022, "Signature for this request is not valid.")


def stale_timestamp() -> BinanceError:
    """-1021: timestamp older than recvWindow."""
    return BinanceError(-1021, "Timestamp for this request is outside of the recvWindow.")


def future_timestamp() -> BinanceError:
    """-1021: timestamp more than 1 s ahead of the server clock."""
    return BinanceError(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")


def bad_recv_window() -> BinanceError:
    """-1131: recvWindow above the 60 s maximum."""
    return BinanceError(-1131, "recvWindow must be less than 60000")


def backend_timeout() -> BinanceError:
    """-1007: Binance's "execution status unknown" answer (HTTP 408)."""
    return BinanceError(
        -1007,
        "Timeout waiting for response from backend server. "
        "Send status unknown; execution status unknown.",
        408,
    )
