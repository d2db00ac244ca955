"""Crypto-shredding: personal fields of stored events encrypted with a key per person.

Every ``PII`` value is stored as ``{"s": subject, "c": base64(nonce + AES-GCM ciphertext)}``
with the subject's own 256-bit data key, the subject's id as associated data (a ciphertext
cannot be moved to another person). Keys live in ``pii_keys``, a mutable table apart from the
append-only log. Erasure destroys the key (the row keeps only a tombstone, so nothing new is
ever written for that person): every stored value of theirs then reads back as ``None``,
while the events, their actors, times and counts stay (SECURITY "Erasure").
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import Transcoding

from kunveno.domain.pii import PII
from kunveno.projections.store import ReadStore, timestamp

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS pii_keys (subject TEXT PRIMARY KEY, data_key TEXT, "
    "created_at TEXT NOT NULL, erased_at TEXT)"
)
# Keys are read on every load and fold; another process's erasure is seen within this time.
CACHE_SECONDS = 5.0
_ERASED = b""


class SubjectKeys:
    def __init__(self, store: ReadStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._cache: dict[UUID, tuple[float, bytes]] = {}
        # A cipher per subject, made once: making one costs more than a short decryption,
        # and a person's history is read with the same key again and again.
        self._ciphers: dict[UUID, AESGCM] = {}

    def setup(self) -> None:
        with self._store.transaction() as cur:
            cur.execute(SCHEMA)

    def key_for_writing(self, subject: UUID) -> bytes | None:
        """The subject's key, made on first use; ``None`` once the subject is erased."""
        key = self._key(subject)
        if key is None:
            with self._store.transaction() as cur:
                cur.execute(
                    "INSERT INTO pii_keys (subject, data_key, created_at) VALUES (%s, %s, %s) "
                    "ON CONFLICT (subject) DO NOTHING",
                    (str(subject), _b64(AESGCM.generate_key(256)), timestamp(datetime.now(UTC))),
                )
            self._forget(subject)
            key = self._key(subject)
        return None if key in (None, _ERASED) else key

    def key_for_reading(self, subject: UUID) -> bytes | None:
        key = self._key(subject)
        return None if key in (None, _ERASED) else key

    def cipher_for_reading(self, subject: UUID) -> AESGCM | None:
        key = self.key_for_reading(subject)
        if key is None:
            return None
        with self._lock:
            cipher = self._ciphers.get(subject)
            if cipher is None:
                if len(self._ciphers) > 10_000:
                    self._ciphers.clear()
                cipher = self._ciphers[subject] = AESGCM(key)
        return cipher

    def erase(self, subject: UUID) -> None:
        """Destroy the subject's key for good (and keep a tombstone so none is made again)."""
        now = timestamp(datetime.now(UTC))
        with self._store.transaction() as cur:
            cur.execute(
                "INSERT INTO pii_keys (subject, data_key, created_at, erased_at) "
                "VALUES (%s, NULL, %s, %s) "
                "ON CONFLICT (subject) DO UPDATE SET data_key = NULL, "
                "erased_at = excluded.erased_at",
                (str(subject), now, now),
            )
        with self._lock:
            self._cache[subject] = (time.monotonic() + CACHE_SECONDS, _ERASED)
            self._ciphers.pop(subject, None)

    def is_erased(self, subject: UUID) -> bool:
        return self._key(subject) == _ERASED

    def _key(self, subject: UUID) -> bytes | None:
        with self._lock:
            cached = self._cache.get(subject)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        rows = self._store.query(
            "SELECT data_key, erased_at FROM pii_keys WHERE subject = %s", (str(subject),)
        )
        if not rows:
            return None  # never had a key: not cached, the first write makes one
        key = _ERASED if rows[0]["data_key"] is None else base64.b64decode(rows[0]["data_key"])
        with self._lock:
            if len(self._cache) > 100_000:
                self._cache.clear()
            self._cache[subject] = (time.monotonic() + CACHE_SECONDS, key)
        return key

    def _forget(self, subject: UUID) -> None:
        with self._lock:
            self._cache.pop(subject, None)
            self._ciphers.pop(subject, None)


class PIITranscoding(Transcoding):
    """How the event store writes and reads ``PII`` values (registered on the event log)."""

    type = PII
    name = "pii"

    def __init__(self, keys: SubjectKeys) -> None:
        self._keys = keys

    def encode(self, obj: PII) -> dict[str, Any]:
        key = None if obj.value is None else self._keys.key_for_writing(obj.subject)
        if key is None:
            return {"s": obj.subject.hex, "c": None}
        nonce = os.urandom(12)
        plaintext = json.dumps(obj.value).encode()
        sealed = AESGCM(key).encrypt(nonce, plaintext, obj.subject.bytes)
        return {"s": obj.subject.hex, "c": _b64(nonce + sealed)}

    def decode(self, data: dict[str, Any]) -> PII:
        subject = UUID(data["s"])
        sealed = data.get("c")
        cipher = None if sealed is None else self._keys.cipher_for_reading(subject)
        if sealed is None or cipher is None:
            return PII(subject, None)
        raw = base64.b64decode(sealed)
        try:
            plaintext = cipher.decrypt(raw[:12], raw[12:], subject.bytes)
        except InvalidTag:
            return PII(subject, None)  # not this subject's ciphertext: never trust it
        return PII(subject, json.loads(plaintext))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
