"""Dashboard tokens: bound to one principal, short-lived, accepted only where the access rule
allows them, from metadata or (via authenticate_stream) from the request message."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from botmesh.credential.v1 import credential_service_pb2  # noqa: F401
from botmesh.trading.v1 import market_data_service_pb2, trading_service_pb2  # noqa: F401

from mesh import dashboard_tokens
from mesh.access import access_for
from mesh.apikey_store import ApiKeyStore
from mesh.auth import Authenticator, authenticate_stream, caller, current_caller
from mesh.db import utcnow
from mesh.errors import Unauthenticated
from mesh.principal import format_principal
from mesh.settings import Settings

STREAM = access_for("/botmesh.trading.v1.TradingService/StreamEvents")
GET_USER = access_for("/botmesh.credential.v1.CredentialService/GetUser")


@pytest.fixture
def auth(settings: Settings, engine) -> Authenticator:  # type: ignore[no-untyped-def]
    return Authenticator(
        ApiKeyStore(engine),
        pepper=settings.api_key_pepper,
        internal_token=settings.internal_token,
        cache_ttl_s=0.5,
    )


def test_tokens_verify_expire_and_resist_tampering(settings: Settings) -> None:
    principal, now = format_principal(os.urandom(29)), utcnow()
    token, expires = dashboard_tokens.issue(settings.api_key_pepper, principal, 0, now)
    assert (expires - now).total_seconds() == pytest.approx(900, abs=1)
    assert dashboard_tokens.verify(settings.api_key_pepper, token, now) == principal
    with pytest.raises(Unauthenticated) as late:
        dashboard_tokens.verify(settings.api_key_pepper, token, now + timedelta(seconds=901))
    assert late.value.reason == "ACCESS_TOKEN_EXPIRED"
    other = format_principal(os.urandom(29))
    forged_payload = dashboard_tokens.issue("another pepper", other, 60, now)[0].split(".")[0]
    forged = forged_payload + "." + token.split(".")[1]
    with pytest.raises(Unauthenticated):
        dashboard_tokens.verify(settings.api_key_pepper, forged, now)


async def test_metadata_token_acts_read_only_for_its_principal(
    auth: Authenticator, settings: Settings
) -> None:
    assert STREAM is not None and GET_USER is not None and STREAM.dashboard_token
    principal = format_principal(os.urandom(29))
    token, _ = dashboard_tokens.issue(settings.api_key_pepper, principal, 60, utcnow())
    for md in ({"x-access-token": token}, {"authorization": f"Bearer {token}"}):
        who = await auth.authenticate(STREAM, md)
        assert who.dashboard and who.principal == principal and who.key_id is None
        assert "marketplace" not in who.scopes
    with pytest.raises(Unauthenticated):  # not a dashboard-token method: the token is no key
        await auth.authenticate(GET_USER, {"x-access-token": token})


async def test_a_token_in_the_message_must_be_checked_by_the_servicer(
    auth: Authenticator, settings: Settings
) -> None:
    assert STREAM is not None
    principal = format_principal(os.urandom(29))
    token, _ = dashboard_tokens.issue(settings.api_key_pepper, principal, 60, utcnow())
    current_caller.set(await auth.authenticate(STREAM, {}))
    with pytest.raises(Unauthenticated):  # fails closed until authenticate_stream ran
        caller()
    with pytest.raises(Unauthenticated):
        authenticate_stream("bmd_garbage.x")
    assert authenticate_stream(token).principal == principal
    assert caller().principal == principal
