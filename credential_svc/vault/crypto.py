"""Envelope encryption of exchange credentials.

Each credential gets its own random 256-bit data key. The secret bundle is sealed with
AES-256-GCM under that key, with associated data naming the user, the credential and the
exchange: a ciphertext copied onto another row (another user's, another credential's) fails
authentication instead of decrypting. The data key is itself sealed (wrapped) by the active
keyring version, with the credential id as associated data. Destroying the wrapped data key
is crypto-shredding: the ciphertext may linger in backups, but nothing can open it.

Plaintext lives only in `SecretBundle`, whose repr hides it, and error messages never hold it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from credential_svc.vault.keyring import Keyring

_NONCE = 12


class DecryptError(Exception):
    """A credential that cannot be opened: shredded, retired key, or bound elsewhere."""


@dataclass(frozen=True)
class SecretBundle:
    api_key: str = field(repr=False)
    api_secret: str = field(repr=False)
    passphrase: str = field(repr=False, default="")

    def to_bytes(self) -> bytes:
        return json.dumps({"k": self.api_key, "s": self.api_secret, "p": self.passphrase}).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> SecretBundle:
        data = json.loads(raw)
        return cls(data["k"], data["s"], data["p"])


@dataclass(frozen=True)
class Sealed:
    nonce: bytes
    ciphertext: bytes = field(repr=False)
    wrapped_data_key: bytes = field(repr=False)
    key_version: int


def binding(user_id: str, credential_id: str, exchange: str) -> bytes:
    """The associated data of a credential's ciphertext."""
    return "\0".join(("botmesh-credential-v1", user_id, credential_id, exchange)).encode()


def _wrap_binding(credential_id: str, version: int) -> bytes:
    return f"botmesh-dek-v1\0{credential_id}\0{version}".encode()


class Envelope:
    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring

    def seal(
        self, bundle: SecretBundle, *, user_id: str, credential_id: str, exchange: str
    ) -> Sealed:
        data_key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(_NONCE)
        ciphertext = AESGCM(data_key).encrypt(
            nonce, bundle.to_bytes(), binding(user_id, credential_id, exchange)
        )
        version = self._keyring.active_version
        return Sealed(nonce, ciphertext, self.wrap(data_key, credential_id, version), version)

    def open(
        self,
        sealed: Sealed,
        *,
        user_id: str,
        credential_id: str,
        exchange: str,
    ) -> SecretBundle:
        data_key = self.unwrap(sealed.wrapped_data_key, credential_id, sealed.key_version)
        try:
            raw = AESGCM(data_key).decrypt(
                sealed.nonce, sealed.ciphertext, binding(user_id, credential_id, exchange)
            )
        except InvalidTag:
            raise DecryptError("credential ciphertext does not belong to this row") from None
        return SecretBundle.from_bytes(raw)

    def has_version(self, version: int) -> bool:
        return self._keyring.key(version) is not None

    def wrap(self, data_key: bytes, credential_id: str, version: int) -> bytes:
        kek = self._keyring.key(version)
        if kek is None:
            raise DecryptError(f"keyring version {version} is not available")
        nonce = os.urandom(_NONCE)
        return nonce + AESGCM(kek).encrypt(nonce, data_key, _wrap_binding(credential_id, version))

    def unwrap(self, wrapped: bytes, credential_id: str, version: int) -> bytes:
        kek = self._keyring.key(version)
        if kek is None:
            raise DecryptError(f"keyring version {version} is retired or unknown")
        try:
            return AESGCM(kek).decrypt(
                wrapped[:_NONCE], wrapped[_NONCE:], _wrap_binding(credential_id, version)
            )
        except InvalidTag:
            raise DecryptError("wrapped data key does not open under its version") from None

    def rewrap(self, wrapped: bytes, credential_id: str, old: int, new: int) -> bytes:
        """The data key moved from version `old` to `new`; it never leaves this process."""
        return self.wrap(self.unwrap(wrapped, credential_id, old), credential_id, new)
