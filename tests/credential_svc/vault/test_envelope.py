"""Envelope encryption against the real tables: rows bound to their owner, keys that rotate
and retire, and shredding that leaves nothing to open."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from credential_svc.identity.service import Users
from credential_svc.identity.store import UserRecord, UserStore
from credential_svc.subscriptions.suspension_store import ErasureSteps
from credential_svc.tables import exchange_credentials as creds
from credential_svc.vault.crypto import DecryptError, Envelope, SecretBundle
from credential_svc.vault.keyring import Keyring, KeyringError, parse_keyring
from credential_svc.vault.rotation import Rotator
from credential_svc.vault.store import VaultStore
from mesh.audit import AuditLog
from mesh.principal import format_principal
from mesh.settings import Settings

SECRET = "s3cr3t-" + os.urandom(8).hex()


class Parts:
    def __init__(self, settings: Settings, engine, keyring_path: Path) -> None:  # type: ignore[no-untyped-def]
        audit = AuditLog(settings.api_key_pepper)
        self.keyring = Keyring.load(None, keyring_path)
        self.envelope = Envelope(self.keyring)
        self.store = VaultStore(engine, audit)
        self.users = Users(UserStore(engine, audit), ErasureSteps(engine, audit))
        self.rotator = Rotator(self.store, self.envelope, self.keyring)

    async def user(self) -> UserRecord:
        return await self.users.create(format_principal(os.urandom(29)), "", "")


@pytest.fixture(scope="module")
async def private_engine(scratch_database):  # type: ignore[no-untyped-def]
    """A database of this module's own: rotation walks every row, and rows sealed under
    these tests' private keyrings must not meet the mesh's keyring."""
    from mesh.db import make_engine
    from tests.support import alembic, mariadb_url

    url = mariadb_url(scratch_database())
    result = alembic(url, "upgrade", "head")
    assert result.returncode == 0, result.stderr
    eng = make_engine(url)
    yield eng
    await eng.dispose()


@pytest.fixture
async def engine(private_engine):  # type: ignore[no-untyped-def]
    """Each test starts with no credentials (each has its own keyring)."""
    async with private_engine.begin() as conn:
        await conn.execute(creds.delete())
    return private_engine


@pytest.fixture
def parts(settings: Settings, engine, tmp_path: Path) -> Parts:  # type: ignore[no-untyped-def]
    return Parts(settings, engine, tmp_path / "keyring.json")


async def _vault(parts: Parts):  # type: ignore[no-untyped-def]
    from credential_svc.vault.service import Vault

    async def no_exchange(exchange: str, bundle: SecretBundle):  # type: ignore[no-untyped-def]
        raise AssertionError("not called here")

    return Vault(parts.store, parts.envelope, no_exchange, allow_withdrawal=False)


def test_keyring_file_is_private_and_never_repr_leaks(tmp_path: Path) -> None:
    path = tmp_path / "kr.json"
    ring = Keyring.load(None, path)
    assert path.stat().st_mode & 0o777 == 0o600
    state = parse_keyring(path.read_text())
    assert str(state) == "KeyringState(active=1, versions=[1])"
    assert ring.active_version == 1
    with pytest.raises(KeyringError) as err:
        parse_keyring('{"active": 2, "keys": {"1": "' + "A" * 44 + '"}}')
    assert "A" * 10 not in str(err.value)


async def test_a_row_copied_to_another_user_does_not_decrypt(parts: Parts, engine) -> None:  # type: ignore[no-untyped-def]
    vault = await _vault(parts)
    alice, bob = await parts.user(), await parts.user()
    a = await vault.create(alice, "binance", "a", SecretBundle("alicekey1234", SECRET))
    b = await vault.create(bob, "binance", "b", SecretBundle("bobkey567890", "bob-secret-xyz"))
    async with engine.begin() as conn:
        row = (
            await conn.execute(sa.select(creds).where(creds.c.credential_id == a.credential_id))
        ).one()
        await conn.execute(
            creds.update()
            .where(creds.c.credential_id == b.credential_id)
            .values(
                nonce=row.nonce, ciphertext=row.ciphertext, wrapped_data_key=row.wrapped_data_key
            )
        )
    swapped = await parts.store.get(bob.user_id, b.credential_id)
    assert swapped is not None and swapped.sealed is not None
    with pytest.raises(DecryptError) as err:
        parts.envelope.open(
            swapped.sealed, user_id=bob.user_id, credential_id=b.credential_id, exchange="binance"
        )
    assert SECRET not in str(err.value)
    # Even with the data key moved along, the ciphertext is bound to Alice's row.
    assert swapped.sealed.ciphertext is not None
    own = await parts.store.get(alice.user_id, a.credential_id)
    assert own is not None and own.sealed is not None
    data_key = parts.envelope.unwrap(own.sealed.wrapped_data_key, a.credential_id, 1)
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from credential_svc.vault.crypto import binding

    with pytest.raises(InvalidTag):
        AESGCM(data_key).decrypt(
            own.sealed.nonce,
            own.sealed.ciphertext,
            binding(bob.user_id, a.credential_id, "binance"),
        )


async def test_rotation_rewraps_and_the_retired_version_opens_nothing(parts: Parts) -> None:
    vault = await _vault(parts)
    user = await parts.user()
    made = [
        await vault.create(user, "binance", f"k{i}", SecretBundle(f"apikey{i:06d}", SECRET))
        for i in range(5)
    ]
    old = [await parts.store.get(user.user_id, m.credential_id) for m in made]
    rotation = await parts.rotator.rotate(retire_previous=True)
    assert rotation.version == 2
    await parts.rotator.wait()
    assert parts.keyring.versions == [2]
    for before in old:
        assert before is not None and before.sealed is not None
        with pytest.raises(DecryptError):
            parts.envelope.unwrap(before.sealed.wrapped_data_key, before.credential_id, 1)
        now = await parts.store.get(user.user_id, before.credential_id)
        assert now is not None and now.sealed is not None and now.sealed.key_version == 2
        bundle = parts.envelope.open(
            now.sealed, user_id=user.user_id, credential_id=now.credential_id, exchange="binance"
        )
        assert bundle.api_secret == SECRET
    assert SECRET not in repr(bundle) and SECRET not in repr(now)


async def test_a_process_sees_a_rotation_done_by_another(parts: Parts, tmp_path: Path) -> None:
    other = Keyring.load(None, tmp_path / "keyring.json")
    assert other.active_version == parts.keyring.active_version
    parts.keyring.add_version()
    assert other.active_version == parts.keyring.active_version
