"""The inbox's door: verify who sent an activity, and record it before answering 202.

Nothing is decided here: an activity that passes is recorded as an inbound event and the
inbox processor acts on it from the log. What is checked, in order, and refused with nothing
stored: size and shape; blocks; the signature (key fetched signed, refetched once when it
does not verify, for rotated keys); the signer is the actor (I-1); ids share the actor's
origin (I-2). A replay of a recorded activity is answered 202 and changes nothing (I-7).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from kunveno.adapters.activitypub.actors import ActorKey, KeyNotFound, RemoteActors
from kunveno.adapters.activitypub.blocks import Blocks
from kunveno.adapters.activitypub.fetching import FetchError
from kunveno.adapters.activitypub.signatures import (
    ParsedSignature,
    PublicKey,
    SignatureError,
    load_public_key,
    parse_signature,
    verify_request,
)
from kunveno.adapters.activitypub.vocabulary import (
    Activity,
    InvalidActivity,
    first_type,
    ids_of,
    parse_activity,
    parse_json_bounded,
    same_origin,
)
from kunveno.application.federation import FederationService
from kunveno.application.ports import Clock

MAX_BODY = 1_048_576
# Types whose object the actor creates or changes: it must be theirs (same origin).
AUTHORING_TYPES = frozenset({"Create", "Update", "Delete"})


class InboxRefused(Exception):
    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class SignedRequest:
    method: str
    path: str
    query: str
    scheme: str
    headers: Mapping[str, str]
    body: bytes


class InboxReceiver:
    def __init__(
        self,
        actors: RemoteActors,
        federation: FederationService,
        blocks: Blocks,
        clock: Clock,
        *,
        on_verified: Callable[[str], None] | None = None,
    ) -> None:
        """``on_verified(host)``: a host just sent a verified activity (it is alive)."""
        self._on_verified = on_verified
        self._actors = actors
        self._federation = federation
        self._blocks = blocks
        self._clock = clock

    def receive(self, request: SignedRequest) -> bool:
        """Verify and record; ``True`` for a new activity, ``False`` for a replay."""
        activity = _parse(request.body)
        if self._blocks.is_blocked(activity.actor):
            raise InboxRefused(403, "blocked", "this node does not take activities from you")
        parsed = _signature(request)
        if not same_origin(parsed.key_id, activity.actor):
            raise InboxRefused(401, "signer_not_actor", "the key is not on the actor's origin")
        signer = self._verified_signer(parsed, request, activity)
        if signer is not None and signer != activity.actor:
            raise InboxRefused(401, "signer_not_actor", "the activity's actor did not sign it")
        check_origins(activity)
        if self._on_verified is not None:
            self._on_verified(urlsplit(activity.actor).netloc.lower())
        outcome = self._federation.record_inbound(
            activity_id=activity.id,
            activity_type=activity.type,
            actor_url=activity.actor,
            signer=parsed.key_id,
            payload=activity.raw,
        )
        return outcome.value

    def _verified_signer(
        self, parsed: ParsedSignature, request: SignedRequest, activity: Activity
    ) -> str | None:
        """The owner of the key that signed; ``None`` only for a gone actor's own Delete."""
        try:
            key = self._actors.key(parsed.key_id)
        except FetchError as error:
            if error.code == "gone" and _deletes_itself(activity):
                # SWICG: the actor is gone (410) and says so; there is nothing left to verify.
                return None
            raise InboxRefused(
                401, "key_unavailable", f"the signer's key: {error.detail}"
            ) from None
        except (KeyNotFound, InvalidActivity) as error:
            raise InboxRefused(401, "key_invalid", str(error)) from None
        try:
            self._verify(parsed, request, key)
        except SignatureError as error:
            if error.code != "signature_invalid":
                raise InboxRefused(401, error.code, error.detail) from None
            # The key may have been rotated since we cached it: fetch it once more.
            try:
                key = self._actors.key(parsed.key_id, refresh=True)
                self._verify(parsed, request, key)
            except (FetchError, KeyNotFound, InvalidActivity, SignatureError) as again:
                raise InboxRefused(401, "signature_invalid", str(again)) from None
        return key.owner

    def _verify(self, parsed: ParsedSignature, request: SignedRequest, key: ActorKey) -> None:
        verify_request(
            parsed,
            method=request.method,
            path=request.path,
            query=request.query,
            headers=request.headers,
            body=request.body,
            public_key=_public_key(key.public_pem),
            now=self._clock.now(),
            scheme=request.scheme,
        )


@functools.lru_cache(maxsize=4096)
def _public_key(pem: str) -> PublicKey:
    """Parsed once per PEM: keys are immutable, and parsing costs more than verifying."""
    return load_public_key(pem)


def _parse(body: bytes) -> Activity:
    try:
        return parse_activity(parse_json_bounded(body, max_bytes=MAX_BODY))
    except InvalidActivity as error:
        status = 413 if error.code == "too_large" else 400
        raise InboxRefused(status, error.code, error.detail) from None


def _signature(request: SignedRequest) -> ParsedSignature:
    try:
        return parse_signature(request.headers)
    except SignatureError as error:
        raise InboxRefused(401, error.code, error.detail) from None


def _deletes_itself(activity: Activity) -> bool:
    return activity.type == "Delete" and activity.object_id == activity.actor


def check_origins(activity: Activity) -> None:
    """SECURITY I-2: the activity and what it authors come from the actor's origin."""
    if not same_origin(activity.id, activity.actor):
        raise InboxRefused(403, "origin_mismatch", "the activity's id is not on its actor's origin")
    if activity.type in AUTHORING_TYPES and activity.object_id is not None:
        if not same_origin(activity.object_id, activity.actor):
            raise InboxRefused(
                403, "origin_mismatch", "an actor may only create, change or delete its own things"
            )
        if activity.type == "Create":
            _check_attribution(activity)
    if activity.type == "Undo" and activity.object is not None:
        undone_actors = ids_of(activity.object.get("actor"))
        if any(undone != activity.actor for undone in undone_actors):
            raise InboxRefused(403, "origin_mismatch", "only its actor can undo an activity")


def _check_attribution(activity: Activity) -> None:
    """A Note is the actor's own; an Event may be attributed to a group of the same server
    (Mobilizon: the organiser acts, the group is the author), never to another server."""
    obj = activity.object or {}
    attributed = ids_of(obj.get("attributedTo"))
    if first_type(obj) == "Event":
        allowed = all(same_origin(a, activity.actor) for a in attributed)
    else:
        allowed = all(a == activity.actor for a in attributed)
    if not allowed:
        raise InboxRefused(403, "origin_mismatch", "the object is attributed to someone else")


def embedded_or_none(activity: Activity) -> dict[str, Any] | None:
    """An embedded object, trusted only when it comes from the actor's origin (I-3)."""
    obj = activity.object
    if obj is None or activity.object_id is None:
        return None
    return obj if same_origin(activity.object_id, activity.actor) else None
