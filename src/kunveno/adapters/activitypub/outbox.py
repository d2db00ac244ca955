"""Outgoing activities, derived from the log: what peers are told, and whom to tell.

The outbox follows the log like a projection, but it is a work queue, never rebuilt: each
event that peers must hear of becomes an activity (stored, so its id dereferences) and one
delivery per inbox, written in the same transaction as the outbox's position. So every
activity is queued exactly once, crash or not, and the delivery worker takes it from there.
Activity ids are derived from the event (aggregate id and version): stable across retries.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit
from uuid import NAMESPACE_URL, UUID, uuid5

from kunveno.adapters.activitypub import documents
from kunveno.adapters.activitypub.documents import AS_PUBLIC, Urls
from kunveno.application.federation import INSTANCE_ID
from kunveno.domain.actor import Actor, ActorKind
from kunveno.domain.agent import Agent
from kunveno.domain.base import DomainEvent
from kunveno.domain.community import Community, Visibility
from kunveno.domain.follow import Follow
from kunveno.domain.gathering import Gathering, RegistrationStatus
from kunveno.domain.inbound import InboundActivity
from kunveno.domain.outgoing import OutgoingRequest, RequestKind
from kunveno.domain.person import Person
from kunveno.domain.pii import reveal
from kunveno.domain.post import Post
from kunveno.domain.registration import ParticipantKind, Registration
from kunveno.projections.base import Projection, handles
from kunveno.projections.queries import Queries
from kunveno.projections.store import ReadStore, Writes, timestamp

AS_CONTEXT = "https://www.w3.org/ns/activitystreams"

# (aggregate id, version or None for the latest) -> the aggregate as it was then
Loader = Callable[[UUID, int | None], Any]

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS fed_activities (
        id TEXT PRIMARY KEY, actor TEXT NOT NULL, type TEXT NOT NULL, public INTEGER NOT NULL,
        body TEXT NOT NULL, published TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS fed_activities_by_actor ON fed_activities (actor, published)",
    """CREATE TABLE IF NOT EXISTS fed_deliveries (
        id TEXT PRIMARY KEY, activity_id TEXT NOT NULL, inbox TEXT NOT NULL,
        host TEXT NOT NULL, signer TEXT NOT NULL, key_id TEXT NOT NULL, state TEXT NOT NULL,
        attempts INTEGER NOT NULL, next_at TEXT NOT NULL, lease_until TEXT,
        last_status INTEGER, last_error TEXT, created_at TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS fed_deliveries_due ON fed_deliveries (state, next_at)",
)


class OutboxProjection(Projection):
    name = "outbox"
    # Never bump: the runner would drop the queue. Change the tables with a migration.
    version = 1
    tables = ("fed_activities", "fed_deliveries")
    schema = SCHEMA

    def __init__(
        self, urls: Urls, queries: Queries, load: Loader, wait_views: Callable[[int], object]
    ) -> None:
        self._urls = urls
        self._queries = queries
        self._load = load
        self._wait_views = wait_views

    def prepare(self, last: int) -> None:
        # Followers and gathering rows are read from the views: let them reach this page.
        self._wait_views(last)

    # -- follows --------------------------------------------------------------------------

    @handles(Follow.Accepted, Follow.Rejected)
    def follow_answered(self, e: DomainEvent, w: Writes) -> None:
        follow: Follow = self._load(e.originator_id, e.originator_version)
        kind = "Accept" if isinstance(e, Follow.Accepted) else "Reject"
        original = {
            "id": follow.activity_id,
            "type": "Follow",
            "actor": follow.follower,
            "object": follow.followed,
        }
        signer = f"{follow.followed_kind}:{follow.followed_id}"
        activity = self._activity(e, kind, follow.followed, original, to=[follow.follower])
        self._queue(w, e, activity, signer, [follow.inbox], public=False)

    # -- gatherings -------------------------------------------------------------------------

    @handles(Gathering.Scheduled)
    def scheduled(self, e: Gathering.Scheduled, w: Writes) -> None:
        self._publish_gathering(e, "Create", w)

    @handles(Gathering.DetailsChanged, Gathering.CapacityChanged, Gathering.Cancelled)
    def changed(self, e: DomainEvent, w: Writes) -> None:
        self._publish_gathering(e, "Update", w)

    def _publish_gathering(self, e: DomainEvent, kind: str, w: Writes) -> None:
        row = self._queries.gathering(str(e.originator_id))
        if row is None or row["community_visibility"] != "public":
            return  # members-only gatherings never leave the node
        event = documents.gathering_event(self._urls, row)
        event.pop("@context")
        community = self._urls.community(row["community_slug"])
        activity = self._activity(
            e, kind, community, event, to=[AS_PUBLIC], cc=[f"{community}/followers"]
        )
        inboxes = self._queries.delivery_inboxes(row["community_id"])
        self._queue(w, e, activity, f"community:{row['community_id']}", inboxes, public=True)
        # Followers of the node itself (Gancio, relays) take events from the actor they
        # follow: the instance actor sends them the same Event, once per inbox not reached.
        relayed = [i for i in self._queries.delivery_inboxes(str(INSTANCE_ID)) if i not in inboxes]
        if relayed:
            instance = self._urls.instance
            relay = self._activity(
                e, kind, instance, event, to=[AS_PUBLIC], cc=[f"{instance}/followers"]
            )
            relay["id"] = f"{relay['id']}-relay"
            self._queue(w, e, relay, "instance", relayed, public=True)

    # -- remote registrations: Accept or Reject of their Join --------------------------------

    @handles(Gathering.RegistrationReceived, Gathering.RegistrationApproved)
    def registration_decided(self, e: DomainEvent, w: Writes) -> None:
        if getattr(e, "status", None) == RegistrationStatus.CONFIRMED.value:
            self._answer_join(e, "Accept", w)

    @handles(Gathering.RegistrationPromoted)
    def promoted(self, e: Gathering.RegistrationPromoted, w: Writes) -> None:
        self._answer_join(e, "Accept", w)

    @handles(Gathering.RegistrationDeclined)
    def declined(self, e: Gathering.RegistrationDeclined, w: Writes) -> None:
        self._answer_join(e, "Reject", w)

    def _answer_join(self, e: DomainEvent, kind: str, w: Writes) -> None:
        registration: Registration = self._load(e.registration_id, None)  # type: ignore[attr-defined]
        if (
            registration.kind is not ParticipantKind.REMOTE
            or registration.inbox is None
            or registration.actor_url is None
        ):
            return
        row = self._queries.gathering(str(e.originator_id))
        if row is None:
            return
        join = {
            "id": registration.join_activity_id,
            "type": "Join",
            "actor": registration.actor_url,
            "object": self._urls.gathering(str(e.originator_id)),
        }
        community = self._urls.community(row["community_slug"])
        activity = self._activity(e, kind, community, join, to=[registration.actor_url])
        signer = f"community:{row['community_id']}"
        self._queue(w, e, activity, signer, [registration.inbox], public=False)

    @handles(Gathering.NoticeSent)
    def notice_sent(self, e: Gathering.NoticeSent, w: Writes) -> None:
        """A notice reaches the gathering's remote participants as a direct message from its
        sender (a mention of each, so their servers notify them); local ones read it here."""
        text = reveal(e.text)
        sender = self._local_author(e.actor)
        gathering: Gathering = self._load(e.originator_id, e.originator_version)
        if not text or sender is None:
            return
        active = {
            s.value
            for s in (
                RegistrationStatus.CONFIRMED,
                RegistrationStatus.WAITLISTED,
                RegistrationStatus.PENDING,
            )
        }
        reached: dict[str, str] = {}
        for participant, registration_id in gathering.participants.items():
            if (
                not participant.startswith("remote:")
                or gathering.registrations.get(registration_id) not in active
            ):
                continue
            registration: Registration = self._load(UUID(registration_id), None)
            if registration.actor_url is not None and registration.inbox is not None:
                reached[registration.actor_url] = registration.inbox
        if not reached:
            return
        author, signer = sender
        url = self._urls.gathering(str(e.originator_id))
        note_id = self._urls.activity(f"notice-{e.notice_id}")
        mentions = " ".join(_mention_html(actor) for actor in reached)
        link = html.escape(url, quote=True)
        note = {
            "id": note_id,
            "type": "Note",
            "attributedTo": author,
            "to": list(reached),
            "cc": [],
            "content": (
                f"<p>{mentions}</p>{documents.html_paragraphs(text)}"
                f'<p><a href="{link}">{link}</a></p>'
            ),
            "context": url,
            "tag": [
                {"type": "Mention", "href": actor, "name": f"@{_handle_of(actor)}"}
                for actor in reached
            ],
            "published": _instant(e.timestamp),
        }
        create = self._activity(e, "Create", author, note, to=list(reached))
        self._queue(w, e, create, signer, list(reached.values()), public=False)

    @handles(InboundActivity.Refused)
    def refused(self, e: InboundActivity.Refused, w: Writes) -> None:
        """A Join or Follow we could not take (a cancelled gathering, an agent, which nobody
        follows): tell the sender. A Follow's Reject comes from the actor it asked to follow
        (Mastodon matches it to the request by that actor), else from the instance."""
        inbound: InboundActivity = self._load(e.originator_id, e.originator_version)
        payload = inbound.payload
        if inbound.activity_type not in ("Join", "Follow") or e.reply_inbox is None:
            return
        actor = payload.get("actor")
        original = {k: payload[k] for k in ("id", "type", "actor", "object") if k in payload}
        by, signer = self._urls.instance, "instance"
        followed = self._local_agent(payload.get("object"))
        if inbound.activity_type == "Follow" and followed is not None:
            by, signer = self._urls.agent(followed), f"agent:{followed}"
        activity = self._activity(e, "Reject", by, original, to=[str(actor)])
        self._queue(w, e, activity, signer, [e.reply_inbox], public=False)

    def _local_agent(self, url: object) -> str | None:
        """The id of the agent of ours that ``url`` names, if it does."""
        prefix = self._urls.agent("")
        if not isinstance(url, str) or not url.startswith(prefix):
            return None
        try:
            return str(UUID(url[len(prefix) :]))
        except ValueError:
            return None

    # -- posts: the community announces what is said in it (FEP-1b12) --------------------------

    @handles(Post.Published)
    def post_published(self, e: Post.Published, w: Writes) -> None:
        community: Community = self._load(e.community_id, None)
        if community.visibility is not Visibility.PUBLIC:
            return
        local = self._local_author(e.actor)
        if local is None:
            return
        author, signer = local
        group = self._urls.community(community.slug)
        note = documents.post_note(
            self._urls,
            post_id=str(e.originator_id),
            author=author,
            community=group,
            content=reveal(e.content) or "",
            published=timestamp(e.timestamp),
            in_reply_to=None if e.in_reply_to is None else str(e.in_reply_to),
        )
        create = self._activity(e, "Create", author, note, to=note["to"], cc=note["cc"])
        create["id"] = f"{create['id']}-create"
        self._announce(w, e, community, create, signer_of_inner=signer)

    def _local_author(self, actor: str) -> tuple[str, str] | None:
        """(actor URL, key owner) of a local author: a person, or an agent, whose ``Service``
        actor the post is then attributed to, so remote people can tell."""
        author = Actor.parse(actor)
        if author.person_id is not None:
            return self._person_url(author.person_id), f"person:{author.person_id}"
        if author.kind is ActorKind.AGENT:
            return self._urls.agent(author.ref), f"agent:{author.ref}"
        return None

    @handles(Post.Received)
    def post_received(self, e: Post.Received, w: Writes) -> None:
        community: Community = self._load(e.community_id, None)
        if community.visibility is not Visibility.PUBLIC:
            return
        inbound: InboundActivity = self._load(InboundActivity.id_for(e.activity_id), None)
        # The original activity, exactly as received (FEP-1b12), so followers can check it.
        self._announce(w, e, community, inbound.payload, signer_of_inner=None)

    def _announce(
        self,
        w: Writes,
        e: DomainEvent,
        community: Community,
        inner: dict[str, Any],
        *,
        signer_of_inner: str | None,
    ) -> None:
        group = self._urls.community(community.slug)
        if signer_of_inner is not None:
            # Our own inner activity: stored so its id dereferences, sent to no one itself.
            self._queue(w, e, inner, signer_of_inner, [], public=True)
        announce = self._activity(
            e, "Announce", group, inner, to=[AS_PUBLIC], cc=[f"{group}/followers"]
        )
        inboxes = self._queries.delivery_inboxes(str(community.id))
        self._queue(w, e, announce, f"community:{community.id}", inboxes, public=True)

    # -- a local person was erased: peers are told to forget them -----------------------------

    @handles(Person.Erased)
    def erased(self, e: Person.Erased, w: Writes) -> None:
        person = self._person_url(e.originator_id)
        activity = self._activity(e, "Delete", person, person, to=[AS_PUBLIC])
        inboxes = self._queries.delivery_inboxes(str(e.originator_id))
        self._queue(w, e, activity, f"person:{e.originator_id}", inboxes, public=False)

    # -- an agent was removed: its actor is gone, as a deleted account's is ---------------------

    @handles(Agent.Removed)
    def agent_removed(self, e: Agent.Removed, w: Writes) -> None:
        """Tell the community's followers, who may have seen it post (Mastodon then drops
        the account, as its actor and WebFinger now answer 410)."""
        agent: Agent = self._load(e.originator_id, e.originator_version)
        community: Community = self._load(agent.community_id, None)
        if community.visibility is not Visibility.PUBLIC:
            return  # never published
        url = self._urls.agent(str(e.originator_id))
        activity = self._activity(e, "Delete", url, url, to=[AS_PUBLIC])
        inboxes = self._queries.delivery_inboxes(str(community.id))
        self._queue(w, e, activity, f"agent:{e.originator_id}", inboxes, public=False)

    # -- a local person moved to another server ---------------------------------------------

    @handles(Person.Moved)
    def moved(self, e: Person.Moved, w: Writes) -> None:
        """Tell the person's followers, who then follow the new account (Mastodon's Move)."""
        person = self._person_url(e.originator_id)
        activity = self._activity(e, "Move", person, person, to=[f"{person}/followers"])
        activity["target"] = e.target
        inboxes = self._queries.delivery_inboxes(str(e.originator_id))
        self._queue(w, e, activity, f"person:{e.originator_id}", inboxes, public=False)

    # -- what local people ask of remote servers ----------------------------------------------

    @handles(OutgoingRequest.Sent, OutgoingRequest.SentAgain)
    def request_sent(self, e: DomainEvent, w: Writes) -> None:
        request: OutgoingRequest = self._load(e.originator_id, e.originator_version)
        person = self._person_url(request.person_id)
        kind = "Follow" if request.kind is RequestKind.FOLLOW else "Join"
        activity = self._activity(e, kind, person, request.target, to=[request.target])
        self._queue(w, e, activity, f"person:{request.person_id}", [request.inbox], public=False)

    @handles(OutgoingRequest.Withdrawn)
    def request_withdrawn(self, e: OutgoingRequest.Withdrawn, w: Writes) -> None:
        request: OutgoingRequest = self._load(e.originator_id, e.originator_version)
        person = self._person_url(request.person_id)
        if request.kind is RequestKind.FOLLOW:
            original = {
                "id": request.activity_id,
                "type": "Follow",
                "actor": person,
                "object": request.target,
            }
            activity = self._activity(e, "Undo", person, original, to=[request.target])
        else:
            activity = self._activity(e, "Leave", person, request.target, to=[request.target])
        self._queue(w, e, activity, f"person:{request.person_id}", [request.inbox], public=False)

    def _person_url(self, person_id: UUID) -> str:
        row = self._queries.person(str(person_id))
        assert row is not None, "the views were waited for: the person is there"
        return self._urls.person(row["username"])

    # -- building and queueing ------------------------------------------------------------

    def _activity(
        self,
        e: DomainEvent,
        kind: str,
        actor: str,
        obj: Any,
        *,
        to: list[str],
        cc: list[str] | None = None,
    ) -> dict[str, Any]:
        activity: dict[str, Any] = {
            "@context": documents.CONTEXT if kind in ("Create", "Update") else AS_CONTEXT,
            "id": self._urls.activity(activity_key(e)),
            "type": kind,
            "actor": actor,
            "object": obj,
            "to": to,
            "published": _instant(e.timestamp),
        }
        if cc:
            activity["cc"] = cc
        return activity

    def _queue(
        self,
        w: Writes,
        e: DomainEvent,
        activity: dict[str, Any],
        signer: str,
        inboxes: list[str],
        *,
        public: bool,
    ) -> None:
        activity_id = activity["id"]
        published = timestamp(e.timestamp)
        w.insert_new(
            "fed_activities",
            {"id": activity_id},
            {
                "actor": activity["actor"],
                "type": activity["type"],
                "public": int(public),
                "body": json.dumps(activity, separators=(",", ":")),
                "published": published,
            },
        )
        key_id = f"{activity['actor']}#main-key"
        for inbox in dict.fromkeys(inboxes):
            w.insert_new(
                "fed_deliveries",
                {"id": str(uuid5(NAMESPACE_URL, f"{activity_id}|{inbox}"))},
                {
                    "activity_id": activity_id,
                    "inbox": inbox,
                    "host": urlsplit(inbox).netloc.lower(),
                    "signer": signer,
                    "key_id": key_id,
                    "state": "pending",
                    "attempts": 0,
                    "next_at": published,
                    "created_at": published,
                },
            )


def _mention_html(actor_url: str) -> str:
    href = html.escape(actor_url, quote=True)
    name = html.escape(_handle_of(actor_url))
    return f'<span class="h-card"><a href="{href}" class="u-url mention">@{name}</a></span>'


def _handle_of(actor_url: str) -> str:
    """A readable name for a remote actor: the last part of its URL, at its host."""
    parts = urlsplit(actor_url)
    name = parts.path.rstrip("/").rpartition("/")[2] or parts.netloc
    return f"{name.lstrip('@')}@{parts.netloc}"


def activity_key(e: DomainEvent) -> str:
    return f"{e.originator_id}-{e.originator_version}"


def _instant(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


class Outbox:
    """Reads of the outgoing activities: one by id, and an actor's public ones."""

    def __init__(self, store: ReadStore) -> None:
        self._store = store

    def activity(self, activity_id: str) -> dict[str, Any] | None:
        rows = self._store.query("SELECT body FROM fed_activities WHERE id = %s", (activity_id,))
        return json.loads(rows[0]["body"]) if rows else None

    def public_activities(self, actor: str, *, limit: int) -> list[dict[str, Any]]:
        rows = self._store.query(
            "SELECT body FROM fed_activities WHERE actor = %s AND public = 1 "
            "ORDER BY published DESC, id LIMIT %s",
            (actor, limit),
        )
        return [json.loads(row["body"]) for row in rows]

    def public_count(self, actor: str) -> int:
        rows = self._store.query(
            "SELECT COUNT(*) AS n FROM fed_activities WHERE actor = %s AND public = 1", (actor,)
        )
        return int(rows[0]["n"])
