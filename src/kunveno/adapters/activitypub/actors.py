"""Remote actors and their keys: fetched with a signed GET, checked both ways, cached.

A cache, not a read model: it holds what peers published, can be dropped at any time, and is
filled again on demand. Every fetch is signed by our instance actor (GoToSocial and bovine
answer 401 to unsigned fetches, and the instance actor is itself fetchable unsigned, so two
such servers never wait on each other).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urldefrag

from kunveno.adapters.activitypub.fetching import SafeHttp, Signer
from kunveno.adapters.activitypub.vocabulary import (
    InvalidActivity,
    RemoteActor,
    parse_actor,
    parse_public_key,
    same_origin,
)
from kunveno.application.ports import Clock
from kunveno.projections.store import ReadStore, timestamp

KEY_CACHE_SECONDS = 300.0
KEY_CACHE_SIZE = 10_000
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS fed_actors (id TEXT PRIMARY KEY, document TEXT NOT NULL, "
    "fetched_at TEXT NOT NULL)"
)


class KeyNotFound(Exception):
    """The key could not be found, or does not belong to whom it claims."""

    def __init__(self, detail: str, *, gone: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.gone = gone


@dataclass(frozen=True)
class ActorKey:
    owner: str
    key_id: str
    public_pem: str


class RemoteActors:
    def __init__(
        self, store: ReadStore, http: SafeHttp, signer: Callable[[], Signer], clock: Clock
    ) -> None:
        self._store = store
        self._http = http
        self._signer = signer
        self._clock = clock
        # Verified keys by key id, for a few minutes: a signature that fails with a cached key
        # refetches it anyway (rotation), so the cache can only save work, never keep a stale key.
        self._keys: dict[str, tuple[float, ActorKey]] = {}
        self._keys_lock = threading.Lock()

    def setup(self) -> None:
        with self._store.transaction() as cur:
            cur.execute(SCHEMA)

    def get(self, url: str, *, refresh: bool = False) -> RemoteActor:
        """The actor at ``url``; raises FetchError or InvalidActivity when it cannot be had."""
        if not refresh:
            cached = self._cached(url)
            if cached is not None:
                return cached
        document = self._http.get_activity_json(url, signer=self._signer())
        actor = parse_actor(document)
        if actor.id != url:
            raise InvalidActivity("bad_url", f"the actor at {url} calls itself {actor.id}")
        self._remember(actor.id, json.dumps(document), self._clock.now())
        return actor

    def key(self, key_id: str, *, refresh: bool = False) -> ActorKey:
        """The public key ``key_id`` names, with the actor that owns it (SECURITY I-1).

        Either the key is a fragment of its actor (Mastodon: ``ACTOR#main-key``), or a
        document of its own (GoToSocial: ``ACTOR/main-key``) whose owner must point back to
        the same key; and key and owner share an origin (FEP-fe34).
        """
        if not refresh:
            with self._keys_lock:
                cached = self._keys.get(key_id)
            if cached is not None and cached[0] > time.monotonic():
                return cached[1]
        url, _ = urldefrag(key_id)
        try:
            actor = self._actor_behind(url, refresh=refresh)
        except InvalidActivity as error:
            raise KeyNotFound(f"the key's document is not usable: {error.detail}") from None
        key = ActorKey(*parse_public_key_of(actor))
        if key.key_id != key_id:
            raise KeyNotFound(f"the actor {actor.id} does not publish the key {key_id}")
        if not same_origin(key.owner, key_id):
            raise KeyNotFound("the key and its owner are on different origins")
        with self._keys_lock:
            if len(self._keys) >= KEY_CACHE_SIZE:
                self._keys.clear()  # crude, bounded; a cache miss costs one query
            self._keys[key_id] = (time.monotonic() + KEY_CACHE_SECONDS, key)
        return key

    def _actor_behind(self, url: str, *, refresh: bool) -> RemoteActor:
        if not refresh:
            cached = self._cached(url)
            if cached is not None:
                return cached
        document = self._http.get_activity_json(url, signer=self._signer())
        if "inbox" not in document:
            # A key of its own (GoToSocial's stub): its owner must publish this very key.
            _, owner, _ = parse_public_key(document)
            return self.get(owner, refresh=refresh)
        actor = parse_actor(document)
        self._remember(actor.id, json.dumps(document), self._clock.now())
        return actor

    def _cached(self, url: str) -> RemoteActor | None:
        rows = self._store.query("SELECT document FROM fed_actors WHERE id = %s", (url,))
        if not rows:
            return None
        try:
            return parse_actor(json.loads(rows[0]["document"]))
        except InvalidActivity:
            return None

    def _remember(self, actor_id: str, document: str, now: datetime) -> None:
        with self._store.transaction() as cur:
            cur.execute(
                "INSERT INTO fed_actors (id, document, fetched_at) VALUES (%s, %s, %s) "
                "ON CONFLICT (id) DO UPDATE SET document = excluded.document, "
                "fetched_at = excluded.fetched_at",
                (actor_id, document, timestamp(now)),
            )


def parse_public_key_of(actor: RemoteActor) -> tuple[str, str, str]:
    """(owner, key id, PEM) of an actor's published key."""
    if not actor.public_key_id or not actor.public_key_pem:
        raise KeyNotFound(f"the actor {actor.id} publishes no key")
    owner = actor.public_key_owner or actor.id
    if owner != actor.id:
        raise KeyNotFound(f"the key of {actor.id} claims another owner, {owner}")
    return actor.id, actor.public_key_id, actor.public_key_pem
