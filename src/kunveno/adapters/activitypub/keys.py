"""One RSA-2048 key pair per actor of ours, kept in the database beside the log, never in it.

Keys are not facts of a community: they must not travel in an export of the log, and a
person's erasure must be able to destroy theirs. A key is made the first time an actor needs
one; two processes making one at once both insert, and the first row wins for both.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from kunveno.projections.store import ReadStore, timestamp

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS fed_keys (owner TEXT PRIMARY KEY, private_pem TEXT NOT NULL, "
    "public_pem TEXT NOT NULL, created_at TEXT NOT NULL)"
)


@dataclass(frozen=True)
class KeyPair:
    private_key: rsa.RSAPrivateKey
    public_pem: str


class KeyStore:
    def __init__(self, store: ReadStore) -> None:
        self._store = store
        self._cache: dict[str, KeyPair] = {}
        self._lock = threading.Lock()

    def setup(self) -> None:
        with self._store.transaction() as cur:
            cur.execute(SCHEMA)

    def key_pair(self, owner: str) -> KeyPair:
        """The key pair of ``owner`` (``instance``, ``person:ID``, ``community:ID``...)."""
        with self._lock:
            cached = self._cache.get(owner)
        if cached is not None:
            return cached
        pair = self._load(owner) or self._create(owner)
        with self._lock:
            self._cache[owner] = pair
        return pair

    def _load(self, owner: str) -> KeyPair | None:
        rows = self._store.query("SELECT private_pem FROM fed_keys WHERE owner = %s", (owner,))
        if not rows:
            return None
        private_key = serialization.load_pem_private_key(rows[0]["private_pem"].encode(), None)
        assert isinstance(private_key, rsa.RSAPrivateKey)
        return KeyPair(private_key, _public_pem(private_key))

    def _create(self, owner: str) -> KeyPair:
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private_pem = private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        with self._store.transaction() as cur:
            cur.execute(
                "INSERT INTO fed_keys (owner, private_pem, public_pem, created_at) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (owner) DO NOTHING",
                (owner, private_pem, _public_pem(private_key), timestamp(datetime.now(UTC))),
            )
        stored = self._load(owner)
        assert stored is not None
        return stored


def _public_pem(private_key: rsa.RSAPrivateKey) -> str:
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
