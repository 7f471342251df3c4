"""Key-encryption-key rotation: add a keyring version, rewrap every data key under it in the
background, then (optionally) retire the older versions.

Rewrapping touches only the wrapped data keys (32 bytes each), never the credential
ciphertexts, and each row is updated with a compare-and-set, so concurrent shreds, releases
and verifies keep working throughout. Retirement waits until no live row is wrapped by an old
version, plus a short grace for reads already in flight (readers that still miss re-read the
row once, see Vault._open_current); otherwise it is skipped and logged, never forced.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from credential_svc.vault.crypto import DecryptError, Envelope
from credential_svc.vault.keyring import Keyring
from credential_svc.vault.store import VaultStore
from mesh.audit import Event
from mesh.errors import Aborted

log = logging.getLogger("botmesh.vault.rotation")
BATCH = 100
MAX_PASSES = 5
RETIRE_GRACE_S = 0.5


@dataclass(frozen=True)
class Rotation:
    version: int
    pending: int


class Rotator:
    def __init__(self, store: VaultStore, envelope: Envelope, keyring: Keyring) -> None:
        self._store = store
        self._envelope = envelope
        self._keyring = keyring
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def rotate(self, retire_previous: bool) -> Rotation:
        if self.running:
            raise Aborted("a key rotation is still rewrapping", reason="ROTATION_IN_PROGRESS")
        version = self._keyring.add_version()
        pending = await self._store.count_stale(version)
        await self._store.audit(
            Event("keyring.rotate", f"keyring/{version}", {"retire_previous": retire_previous})
        )
        # The task copies this context: its audit rows name the admin key that rotated.
        self._task = asyncio.create_task(self._rewrap_all(version, retire_previous))
        return Rotation(version, pending)

    async def wait(self) -> None:
        """Until the background rewrap (if any) is over; for shutdown and the CLI's --wait."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def _rewrap_all(self, version: int, retire: bool) -> None:
        try:
            rewrapped = 0
            for _ in range(MAX_PASSES):
                rewrapped += await self._one_pass(version)
                if await self._store.count_stale(version) == 0:
                    break
            left = await self._store.count_stale(version)
            await self._store.audit(
                Event(
                    "keyring.rewrap", f"keyring/{version}", {"rewrapped": rewrapped, "left": left}
                )
            )
            log.info("rewrap done", extra={"fields": {"version": version, "rewrapped": rewrapped}})
            if retire and left == 0:
                await asyncio.sleep(RETIRE_GRACE_S)
                retired = self._keyring.retire_below(version)
                await self._store.audit(
                    Event("keyring.retire", f"keyring/{version}", {"retired": str(retired)})
                )
            elif retire:
                log.warning(
                    "not retiring: rows still on old versions", extra={"fields": {"left": left}}
                )
        except Exception:
            log.exception("rewrap failed; rotate again to resume")

    async def _one_pass(self, version: int) -> int:
        done, after = 0, ""
        while True:
            batch = await self._store.stale_batch(version, BATCH, after=after)
            if not batch:
                return done
            for credential_id, old, wrapped in batch:
                try:
                    new = self._envelope.rewrap(wrapped, credential_id, old, version)
                except DecryptError:
                    log.error(
                        "data key does not unwrap; left as is",
                        extra={"fields": {"credential_id": credential_id, "version": old}},
                    )
                    continue
                if await self._store.swap_wrapped_key(
                    credential_id, (old, wrapped), (version, new)
                ):
                    done += 1
            after = batch[-1][0]
            await asyncio.sleep(0)  # let requests run between batches
