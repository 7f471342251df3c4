"""What an idempotency record keeps at rest, and why none of it is readable without the server
secret.

A record answers "who asked what": the API key, the acting principal, the method and the
request. The principal is kept only as HMAC(secret, principal), so a table dump names no user
and an erased user leaves no readable trail. The fingerprint is an HMAC too, over all four
parts, so it cannot be brute-forced from a guessed request either. Recorded answers may carry
bearer secrets (a dashboard token), so they are sealed with AES-256-GCM; the associated data
is the record's identity, so a sealed answer cannot be moved to another record, caller or
status code. Opening gives back the exact bytes that were sealed: replays stay byte-identical.

Every key is derived from one server secret (the API-key pepper every service already holds)
with HKDF under a label of its own, so none of them is ever an API-key hash.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_VERSION = b"\x01"
_NONCE_BYTES = 12


class UnreadableRecord(Exception):
    """A sealed answer that does not open under this secret and identity."""


def _derive(secret: str, label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(secret.encode())


def _framed(*parts: bytes) -> bytes:
    """Length-prefixed parts: ("ab", "c") and ("a", "bc") never frame alike."""
    return b"".join(struct.pack(">Q", len(part)) + part for part in parts)


class RecordSeal:
    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("the idempotency seal needs a server secret")
        self._principal_key = _derive(secret, b"botmesh idempotency principal v1")
        self._fingerprint_key = _derive(secret, b"botmesh idempotency fingerprint v1")
        self._aead = AESGCM(_derive(secret, b"botmesh idempotency answer v1"))

    def principal_hash(self, principal: str) -> bytes:
        """What stands for the acting principal ("" when none) in the table: 32 bytes."""
        return hmac.new(self._principal_key, principal.encode(), hashlib.sha256).digest()

    def fingerprint(self, api_key_id: str, principal: str, method: str, request: bytes) -> bytes:
        """One request by one caller: equal only for the same key, principal, method, bytes."""
        message = _framed(api_key_id.encode(), principal.encode(), method.encode(), request)
        return hmac.new(self._fingerprint_key, message, hashlib.sha256).digest()

    def seal(self, identity: bytes, code: int, answer: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return _VERSION + nonce + self._aead.encrypt(nonce, answer, _aad(identity, code))

    def open(self, identity: bytes, code: int, sealed: bytes) -> bytes:
        if sealed[:1] != _VERSION or len(sealed) < 1 + _NONCE_BYTES:
            raise UnreadableRecord("unknown sealed-answer format")
        nonce, body = sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, body, _aad(identity, code))
        except InvalidTag:
            raise UnreadableRecord("the sealed answer does not open") from None


def record_identity(api_key_id: str, principal_hash: bytes, key: str, fingerprint: bytes) -> bytes:
    """The associated data that binds a sealed answer to its record."""
    return _framed(api_key_id.encode(), principal_hash, key.encode(), fingerprint)


def _aad(identity: bytes, code: int) -> bytes:
    return _framed(_VERSION, identity, str(code).encode())
