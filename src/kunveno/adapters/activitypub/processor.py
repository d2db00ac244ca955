"""Acts on recorded inbound activities, following the log (at least once, idempotently).

It runs like a projection, a page at a time with its position tracked, but its effect is to
run commands: a Follow becomes a follow of a community, a Join a registration. Every command
it runs is idempotent (a replayed page finds its effects already there). An activity that a
rule of the domain refuses is marked refused in the log, which the outbox answers with a
Reject where the sender expects an answer (a Join).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from kunveno.adapters.activitypub.actors import RemoteActors
from kunveno.adapters.activitypub.documents import Urls
from kunveno.adapters.activitypub.fetching import FetchError
from kunveno.adapters.activitypub.sanitize import plain_text
from kunveno.adapters.activitypub.vocabulary import (
    NOTE_TYPES,
    InvalidActivity,
    RemoteEvent,
    first_type,
    id_of,
    parse_activity,
    parse_event,
    parse_note,
    same_origin,
)
from kunveno.adapters.activitypub.vocabulary import RemoteNote as ParsedNote
from kunveno.application.accounts import AccountService
from kunveno.application.communities import CommunityService
from kunveno.application.federation import (
    INSTANCE_ID,
    FederationService,
    Followable,
    RemoteFollower,
    RemoteNote,
    remote_post_id,
)
from kunveno.application.outgoing import OutgoingService, Target
from kunveno.domain.actor import Actor
from kunveno.domain.errors import DomainError, NotFound
from kunveno.domain.inbound import InboundActivity
from kunveno.domain.outgoing import RequestKind
from kunveno.domain.pii import subject_of
from kunveno.projections.base import Projection, handles
from kunveno.projections.queries import Queries
from kunveno.projections.store import Writes, timestamp

log = logging.getLogger(__name__)

MAX_MESSAGE = 2000


class InboxProcessor(Projection):
    name = "inbox"
    version = 1  # holds no tables: only its position
    tables = ()
    schema = ()

    def __init__(
        self,
        urls: Urls,
        actors: RemoteActors,
        federation: FederationService,
        communities: CommunityService,
        accounts: AccountService,
        queries: Queries,
        outgoing: OutgoingService,
        shred: Callable[[UUID], None] | None = None,
    ) -> None:
        self._outgoing = outgoing
        self._shred = shred
        self._urls = urls
        self._queries = queries
        self._actors = actors
        self._federation = federation
        self._communities = communities
        self._accounts = accounts

    @handles(InboundActivity.Received)
    def received(self, e: InboundActivity.Received, _: Writes) -> None:
        try:
            self._act(e.payload)
        except DomainError as error:
            self._refuse(e, error.code, error.detail)
        except (InvalidActivity, FetchError) as error:
            self._refuse(e, error.code, error.detail)
        except Exception as error:  # one bad activity must not stop the inbox
            log.exception("processing %s failed", e.activity_id)
            self._refuse(e, "processing_failed", str(error))

    def _refuse(self, e: InboundActivity.Received, code: str, detail: str) -> None:
        reply_inbox = None
        if e.activity_type in ("Join", "Follow"):  # the sender waits for an answer
            try:
                reply_inbox = self._follower(str(e.payload.get("actor"))).inbox
            except (InvalidActivity, FetchError):
                reply_inbox = None
        self._federation.refuse_inbound(e.activity_id, code, detail, reply_inbox=reply_inbox)

    # -- dispatch ---------------------------------------------------------------------------

    def _act(self, payload: dict[str, Any]) -> None:
        activity = parse_activity(payload)
        handler = getattr(self, f"_on_{activity.type.lower()}", None)
        if handler is not None:
            handler(activity.actor, activity.id, activity.object_id, activity.raw)

    def _on_follow(self, actor: str, activity_id: str, target: str | None, _: Any) -> None:
        followable = self._followable(target)
        self._federation.follow(self._follower(actor), followable, activity_id)

    def _on_undo(self, actor: str, _: str, undone_id: str | None, raw: dict[str, Any]) -> None:
        undone = raw.get("object")
        if not isinstance(undone, dict):
            # By reference (bovine does this): the id of a Follow we stored with the follow.
            followed = self._queries.followed_by_activity(actor, undone_id or "")
            if followed is not None:
                self._federation.unfollow(actor, followed)
            return
        target = id_of(undone.get("object"))
        kind = first_type(undone)
        if target is None:
            return
        if kind == "Follow":
            self._federation.unfollow(actor, target)
        elif kind in ("Like", "Announce") and self._is_ours(target):
            self._federation.withdraw(kind.lower(), actor, target)

    def _on_like(self, actor: str, activity_id: str, target: str | None, _: Any) -> None:
        if target is not None and self._is_ours(target):
            self._federation.react("like", actor, target, activity_id)

    def _on_announce(self, actor: str, activity_id: str, target: str | None, _: Any) -> None:
        if target is not None and self._is_ours(target):
            self._federation.react("announce", actor, target, activity_id)

    def _on_delete(self, actor: str, _: str, target: str | None, __: Any) -> None:
        """An actor deleted itself: its follows end, its registrations are cancelled, its likes
        withdrawn, and what it said here (posts, messages: its subject's key) is shredded."""
        if target is None:
            return
        if target != actor:
            self._forget_remote_gathering(actor, target)
            self._federation.change_remote_post(target, actor, None)
            return
        for follow in self._queries.follows_by(actor):
            self._federation.unfollow(actor, follow["followed"])
        for registration in self._queries.active_registrations_of_actor(actor):
            self._federation.leave(actor, UUID(registration["gathering_id"]))
        for reaction in self._queries.reactions_by(actor):
            self._federation.withdraw(reaction["kind"], actor, reaction["object_url"])
        post_ids = self._queries.post_ids_by(str(Actor.remote(actor)))
        if post_ids:
            self._federation.delete_posts_of(actor, [UUID(p) for p in post_ids])
        if self._shred is not None:
            self._shred(subject_of(Actor.remote(actor)))

    def _on_join(self, actor: str, activity_id: str, target: str | None, raw: Any) -> None:
        gathering_id = self._gathering_id(target)
        message = raw.get("participationMessage")
        text = plain_text(message)[:MAX_MESSAGE] if isinstance(message, str) else None
        self._federation.join(self._follower(actor), gathering_id, activity_id, text or None)

    def _on_leave(self, actor: str, _: str, target: str | None, __: Any) -> None:
        self._federation.leave(actor, self._gathering_id(target))

    def _on_move(self, actor: str, _: str, moved: str | None, raw: Any) -> None:
        """An account we follow moved: its local followers follow the new one (Mastodon's way),
        once the new account names the old one among its aliases (a reciprocal claim)."""
        target_url = id_of(raw.get("target"))
        if moved != actor or target_url is None:
            raise InvalidActivity("bad_move", "an actor moves itself, to a target")
        target = self._actors.get(target_url, refresh=True)
        if actor not in target.also_known_as:
            raise InvalidActivity("bad_move", "the target does not name the mover as an alias")
        if target.moved_to is not None:
            raise InvalidActivity("bad_move", "the target has moved on itself")
        for person_id in self._queries.local_followers_of(actor):
            person = UUID(person_id)
            self._outgoing.withdraw(RequestKind.FOLLOW, person, actor)
            self._outgoing.request(RequestKind.FOLLOW, person, Target(target.id, target.inbox))

    # -- answers to what our people asked -----------------------------------------------------

    def _on_accept(self, actor: str, _: str, answered: str | None, __: Any) -> None:
        self._answer(actor, answered, accepted=True)

    def _on_reject(self, actor: str, _: str, answered: str | None, __: Any) -> None:
        self._answer(actor, answered, accepted=False)

    def _answer(self, actor: str, answered: str | None, *, accepted: bool) -> None:
        request_id = self._request_of(answered)
        if request_id is None or answered is None:
            return  # not an answer to one of our requests (Gancio accepts everything, too)

        def speaks_for(kind: RequestKind, target: str) -> bool:
            # A follow is answered by whom we followed; a join by the event's own server.
            return actor == target if kind is RequestKind.FOLLOW else same_origin(actor, target)

        self._outgoing.answer(
            request_id, answered, accepted=accepted, by=actor, speaks_for=speaks_for
        )

    def _request_of(self, activity_url: str | None) -> UUID | None:
        prefix = self._urls.activity("")
        if activity_url is None or not activity_url.startswith(prefix):
            return None
        stream, _, version = activity_url.removeprefix(prefix).rpartition("-")
        try:
            return UUID(stream) if version.isdigit() else None
        except ValueError:
            return None

    # -- remote gatherings, from the actors our people follow ---------------------------------

    def _on_create(self, actor: str, activity_id: str, object_id: str | None, raw: Any) -> None:
        obj = raw.get("object")
        if isinstance(obj, dict) and first_type(obj) in NOTE_TYPES:
            self._receive_post(actor, activity_id, obj)
        else:
            self._hear(actor, obj)

    def _on_update(self, actor: str, _: str, object_id: str | None, raw: Any) -> None:
        obj = raw.get("object")
        if object_id == actor:
            # An actor changed (a new key, a new name): fetch it again rather than trust the
            # copy, so a rotated key is the one its origin publishes.
            self._actors.get(actor, refresh=True)
        elif isinstance(obj, dict) and first_type(obj) in NOTE_TYPES:
            note = parse_note(obj)
            self._federation.change_remote_post(note.id, actor, plain_text(note.content))
        else:
            self._hear(actor, obj)

    def _receive_post(self, actor: str, activity_id: str, obj: dict[str, Any]) -> None:
        """FEP-1b12: a Note addressed to one of our communities (audience, to or cc)."""
        note = parse_note(obj)
        for address in (*note.audience, *note.to, *note.cc):
            path = self._local_path(address) if address.startswith(self._urls.base + "/") else []
            if len(path) == 2 and path[0] == "communities":
                community_id = self._communities.id_for(path[1])
                self._federation.receive_post(
                    community_id=community_id,
                    community_url=address,
                    author_url=actor,
                    note=RemoteNote(note.id, plain_text(note.content), self._post_id(note)),
                    activity_id=activity_id,
                )
                return

    def _post_id(self, note: ParsedNote) -> UUID | None:
        """The post a Note answers: one of ours by its URL, or a remote one we hold."""
        if note.in_reply_to is None:
            return None
        if note.in_reply_to.startswith(self._urls.base + "/"):
            path = self._local_path(note.in_reply_to)
            if len(path) == 2 and path[0] == "posts":
                try:
                    return UUID(path[1])
                except ValueError:
                    return None
            return None
        return remote_post_id(note.in_reply_to)

    def _hear(self, actor: str, obj: Any) -> None:
        if not isinstance(obj, dict) or first_type(obj) != "Event":
            return
        event = parse_event(obj)
        organiser = event.attributed_to or actor
        if not same_origin(organiser, actor):
            return  # an event of another server: it speaks for itself, not through this actor
        if not (
            self._queries.is_followed_by_someone_here(organiser)
            or self._queries.is_followed_by_someone_here(actor)
        ):
            return  # nobody here asked for it (as Gancio: events only from followed actors)
        self._outgoing.hear_gathering(event.id, organiser, event_details(event), by=actor)

    def _forget_remote_gathering(self, actor: str, target: str) -> None:
        row = self._queries.remote_gathering(target)
        if row is not None and same_origin(row["organiser"], actor):
            self._outgoing.remove_gathering(target, by=actor)

    # -- our things, from their URLs ----------------------------------------------------------

    def _follower(self, actor_url: str) -> RemoteFollower:
        actor = self._actors.get(actor_url)
        return RemoteFollower(actor.id, actor.inbox, actor.shared_inbox)

    def _is_ours(self, url: str) -> bool:
        path = self._local_path(url) if url.startswith(self._urls.base + "/") else []
        return len(path) == 2 and path[0] in ("gatherings", "posts")

    def _local_path(self, url: str | None) -> list[str]:
        if url is None or not url.startswith(self._urls.base + "/"):
            raise NotFound("that is not something of this node")
        return urlsplit(url).path.strip("/").split("/")

    def _followable(self, url: str | None) -> Followable:
        path = self._local_path(url)
        assert url is not None
        if len(path) == 2 and path[0] == "communities":
            return Followable("community", self._communities.id_for(path[1]), url)
        if len(path) == 2 and path[0] == "users":
            return Followable("person", self._accounts.person_id_for(path[1]), url)
        if path == ["actor"]:
            # The instance actor: Gancio and relays follow it to hear every public gathering.
            return Followable("instance", INSTANCE_ID, url)
        raise NotFound("only communities, people and this node's actor can be followed")

    def _gathering_id(self, url: str | None) -> UUID:
        path = self._local_path(url)
        if len(path) != 2 or path[0] != "gatherings":
            raise NotFound("that is not a gathering of this node")
        try:
            return UUID(path[1])
        except ValueError:
            raise NotFound("no such gathering") from None


def event_details(event: RemoteEvent) -> dict[str, Any]:
    """What we keep of a remote Event: plain JSON values, times as UTC timestamps."""
    return {
        "name": event.name,
        "content": event.content,
        "url": event.url or event.id,
        "starts_at": timestamp(event.starts_at),
        "ends_at": None if event.ends_at is None else timestamp(event.ends_at),
        "timezone": event.timezone,
        "place_name": event.place_name,
        "address": event.address,
        "online_url": event.online_url,
        "join_mode": event.join_mode,
        "capacity": event.capacity,
        "remaining_capacity": event.remaining_capacity,
        "participant_count": event.participant_count,
        "status": event.status,
    }
