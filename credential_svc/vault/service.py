"""Credential-vault use cases: store, read (masked), shred, verify, release.

A credential is usable for trading only while ACTIVE. Deleting it, or a verify that refuses
it, suspends the subscriptions using it in the same transaction (subscriptions/suspension.py),
which also announces each on the subscription-change stream through the outbox, so every
trading_svc process drops its client at once; a verify that accepts it again lifts
CREDENTIAL_REFUSED suspensions. Release for trading needs an ACTIVE credential and a subscription that may
trade now; release for winding down (cancelling a stopped subscription's open orders) needs
only a credential that is not shredded yet.

A credential's exchange must offer everything a rented bot uses (exchanges/capabilities.py):
create refuses any other with FAILED_PRECONDITION naming what it lacks, and so does verify.

Every user-facing use case takes the acting user, and every query filters by that user's id:
another user's credential is NOT_FOUND, the same answer as a credential that does not exist.
Secrets exist in plaintext only inside `SecretBundle`s on their way in (create) or out
(verify, release); they are never logged, cached or put into an error.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from credential_svc.identity.store import UserRecord
from credential_svc.subscriptions.entitlement import may_trade
from credential_svc.vault.crypto import DecryptError, Envelope, SecretBundle
from credential_svc.vault.store import (
    ACTIVE,
    REFUSED,
    UNVERIFIED,
    Backing,
    CredentialRecord,
    VaultStore,
    Verification,
)
from exchanges.capabilities import require
from exchanges.permissions import Permissions
from mesh.audit import Event
from mesh.db import utcnow
from mesh.errors import FailedPrecondition, NotFound
from mesh.ids import new_id
from mesh.pagination import decode_token, next_page_token, page_size

log = logging.getLogger("botmesh.vault")
WITHDRAWAL_ENABLED = "WITHDRAWAL_ENABLED"
TRADING_DISABLED = "TRADING_DISABLED"
Checker = Callable[[str, SecretBundle], Awaitable[Permissions]]
TRADE, WIND_DOWN = "TRADE", "WIND_DOWN"


def key_hint(api_key: str) -> str:
    return "****" + api_key[-4:]


def fingerprint(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class VerifyOutcome:
    credential: CredentialRecord
    accepted: bool
    refusal_reason: str


@dataclass(frozen=True)
class Release:
    credential_id: str
    exchange: str
    bundle: SecretBundle


def _missing(credential_id: str) -> NotFound:
    return NotFound(f"credential {credential_id} does not exist", reason="CREDENTIAL_NOT_FOUND")


class Vault:
    def __init__(
        self,
        store: VaultStore,
        envelope: Envelope,
        check: Checker,
        *,
        allow_withdrawal: bool,
    ) -> None:
        self._store = store
        self._envelope = envelope
        self._check = check
        self._allow_withdrawal = allow_withdrawal

    async def create(
        self, user: UserRecord, exchange: str, label: str, bundle: SecretBundle
    ) -> CredentialRecord:
        require(exchange)  # a key for an exchange we cannot trade on is refused up front
        now = utcnow()
        credential_id = new_id("cred")
        sealed = self._envelope.seal(
            bundle, user_id=user.user_id, credential_id=credential_id, exchange=exchange
        )
        record = CredentialRecord(
            credential_id=credential_id,
            user_id=user.user_id,
            exchange=exchange,
            label=label,
            key_hint=key_hint(bundle.api_key),
            fingerprint=fingerprint(bundle.api_key),
            state=UNVERIFIED,
            verified=False,
            can_trade=False,
            can_withdraw=False,
            verify_time=None,
            create_time=now,
            update_time=now,
            sealed=sealed,
        )
        event = Event("credential.create", credential_id, {"exchange": exchange})
        await self._store.insert(record, event)
        return record

    async def get(self, user: UserRecord, credential_id: str) -> CredentialRecord:
        record = await self._store.get(user.user_id, credential_id)
        if record is None:
            raise _missing(credential_id)
        return record

    async def list(
        self, user: UserRecord, requested_size: int, token: str
    ) -> tuple[list[CredentialRecord], str]:
        size = page_size(requested_size)
        rows = await self._store.page(user.user_id, limit=size + 1, after=decode_token(token))
        return rows[:size], next_page_token(rows, size, lambda r: (r.create_time, r.credential_id))

    async def delete(self, user: UserRecord, credential_id: str) -> CredentialRecord:
        record = await self.get(user, credential_id)
        now = utcnow()
        event = Event("credential.delete", credential_id)
        suspended = await self._store.shred(user.user_id, credential_id, now, event)
        if suspended is None:
            raise _missing(credential_id)
        return CredentialRecord(
            **{**record.__dict__, "state": "DELETED", "update_time": now, "sealed": None}
        )

    async def verify(self, user: UserRecord, credential_id: str) -> VerifyOutcome:
        record = await self.get(user, credential_id)
        bundle = await self._open_current(
            record, lambda: self._store.get(user.user_id, credential_id)
        )
        permissions = await self._check(record.exchange, bundle)
        reason = ""
        if permissions.can_withdraw and not self._allow_withdrawal:
            reason = WITHDRAWAL_ENABLED
        elif not permissions.can_trade:
            reason = TRADING_DISABLED
        outcome = Verification(
            state=REFUSED if reason else ACTIVE,
            can_trade=permissions.can_trade,
            can_withdraw=permissions.can_withdraw,
            time=utcnow(),
        )
        detail: dict[str, str | int | bool | None] = {
            "accepted": not reason,
            "refusal_reason": reason,
        }
        event = Event("credential.verify", credential_id, detail)
        moved = await self._store.record_verification(user.user_id, credential_id, outcome, event)
        if moved is None:
            raise _missing(credential_id)  # deleted while we asked the exchange
        updated = CredentialRecord(
            **{
                **record.__dict__,
                "state": outcome.state,
                "verified": True,
                "can_trade": outcome.can_trade,
                "can_withdraw": outcome.can_withdraw,
                "verify_time": outcome.time,
                "update_time": outcome.time,
            }
        )
        return VerifyOutcome(updated, not reason, reason)

    async def release(self, subscription_id: str, purpose: str = TRADE) -> Release:
        """The plaintext of the subscription's credential. For TRADE: the credential is
        ACTIVE (else FAILED_PRECONDITION CREDENTIAL_NOT_ACTIVE) and the subscription may trade
        now (else NOT_FOUND SUBSCRIPTION_NOT_ACTIVE). For WIND_DOWN: any states, while the
        credential is not shredded. Audited with its purpose, and the audit row commits
        before the secret is handed out."""
        backing = await self._backing(subscription_id, purpose)
        bundle = await self._open_current(
            backing.credential,
            lambda: self._refetch(subscription_id, purpose),
        )
        credential_id = backing.credential.credential_id
        detail = {"subscription_id": subscription_id, "purpose": purpose.lower()}
        await self._store.audit(Event("credential.release", credential_id, detail))
        return Release(credential_id, backing.credential.exchange, bundle)

    async def _backing(self, subscription_id: str, purpose: str) -> Backing:
        backing = await self._store.for_subscription(subscription_id)
        if backing is None:
            raise NotFound(
                f"subscription {subscription_id} does not exist", reason="SUBSCRIPTION_NOT_FOUND"
            )
        state = backing.credential.state
        if purpose == TRADE and state != ACTIVE:
            raise FailedPrecondition(
                f"the subscription's credential is {state.lower()}, not active",
                reason="CREDENTIAL_NOT_ACTIVE",
                metadata={"credential_state": state},
            )
        if purpose == TRADE and not may_trade(
            backing.subscription_state, backing.paid_until, utcnow()
        ):
            raise NotFound(
                f"subscription {subscription_id} is not active or has no usable credential",
                reason="SUBSCRIPTION_NOT_ACTIVE",
            )
        return backing

    async def _refetch(self, subscription_id: str, purpose: str) -> CredentialRecord:
        return (await self._backing(subscription_id, purpose)).credential

    async def _open_current(
        self,
        record: CredentialRecord,
        refetch: Callable[[], Awaitable[CredentialRecord | None]],
    ) -> SecretBundle:
        """Opens the row; if a rotation retired its key version between our read and now,
        the row was rewrapped before that, so one fresh read opens it."""
        sealed = record.sealed
        if sealed is not None and not self._envelope.has_version(sealed.key_version):
            fresh = await refetch()
            if fresh is None:
                raise _missing(record.credential_id)
            record = fresh
        return self._open(record)

    def _open(self, record: CredentialRecord) -> SecretBundle:
        if record.sealed is None:
            raise FailedPrecondition("the credential was shredded", reason="CREDENTIAL_SHREDDED")
        try:
            return self._envelope.open(
                record.sealed,
                user_id=record.user_id,
                credential_id=record.credential_id,
                exchange=record.exchange,
            )
        except DecryptError as exc:
            # The message names versions and rows only, never key material.
            log.error("credential does not decrypt", extra={"fields": {"reason": str(exc)}})
            raise FailedPrecondition(
                "the credential cannot be decrypted", reason="CREDENTIAL_UNREADABLE"
            ) from None
