"""The node's read models: people, the community directory, members, gatherings,
registrations (which give counts, remaining capacity and a person's registrations) and posts."""

from __future__ import annotations

import json
from uuid import UUID

from kunveno.domain.actor import Actor
from kunveno.domain.agent import Agent, AgentStatus
from kunveno.domain.base import DomainEvent
from kunveno.domain.blocklist import Blocklist
from kunveno.domain.community import Community, Role
from kunveno.domain.follow import Follow, FollowStatus
from kunveno.domain.gathering import Gathering, RegistrationStatus
from kunveno.domain.imported import ImportedPost
from kunveno.domain.inbound import InboundActivity
from kunveno.domain.outgoing import OutgoingRequest, RequestStatus
from kunveno.domain.person import Person
from kunveno.domain.pii import ERASED, reveal
from kunveno.domain.post import Post
from kunveno.domain.reaction import Reaction
from kunveno.domain.registration import Registration
from kunveno.domain.remote_gathering import RemoteGathering
from kunveno.projections.base import Projection, handles
from kunveno.projections.personal import PersonalIndex
from kunveno.projections.store import Writes, timestamp
from kunveno.projections.trail import TrailView


class PeopleView(Projection):
    name = "people"
    version = 3
    tables = ("rm_people",)
    schema = (
        """CREATE TABLE IF NOT EXISTS rm_people (
            id TEXT PRIMARY KEY, username TEXT NOT NULL UNIQUE, display_name TEXT NOT NULL,
            registered_at TEXT NOT NULL, also_known_as TEXT NOT NULL DEFAULT '[]',
            moved_to TEXT)""",
    )

    @handles(Person.Registered)
    def registered(self, e: Person.Registered, w: Writes) -> None:
        w.upsert(
            "rm_people",
            {"id": str(e.originator_id)},
            {
                "username": e.username,
                "display_name": reveal(e.display_name) or ERASED,
                "registered_at": timestamp(e.timestamp),
            },
        )

    @handles(Person.ProfileChanged)
    def profile_changed(self, e: Person.ProfileChanged, w: Writes) -> None:
        name = reveal(e.display_name) or ERASED
        w.update("rm_people", {"id": str(e.originator_id)}, {"display_name": name})

    @handles(Person.Erased)
    def erased(self, e: Person.Erased, w: Writes) -> None:
        # The row stays (the username stays reserved, counts stay right); what named the
        # person goes.
        erased = {"display_name": ERASED, "also_known_as": "[]", "moved_to": None}
        w.update("rm_people", {"id": str(e.originator_id)}, erased)

    @handles(Person.AliasesSet)
    def aliases_set(self, e: Person.AliasesSet, w: Writes) -> None:
        aliases = json.dumps(e.also_known_as)
        w.update("rm_people", {"id": str(e.originator_id)}, {"also_known_as": aliases})

    @handles(Person.Moved)
    def moved(self, e: Person.Moved, w: Writes) -> None:
        w.update("rm_people", {"id": str(e.originator_id)}, {"moved_to": e.target})


class DirectoryView(Projection):
    name = "communities"
    version = 2
    tables = ("rm_communities",)
    schema = (
        """CREATE TABLE IF NOT EXISTS rm_communities (
            id TEXT PRIMARY KEY, slug TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
            summary TEXT NOT NULL, visibility TEXT NOT NULL, membership TEXT NOT NULL,
            founded_at TEXT NOT NULL)""",
    )

    @handles(Community.Founded)
    def founded(self, e: Community.Founded, w: Writes) -> None:
        w.upsert(
            "rm_communities",
            {"id": str(e.originator_id)},
            {
                "slug": e.slug,
                "name": e.name,
                "summary": e.summary,
                "visibility": e.visibility,
                "membership": e.membership,
                "founded_at": timestamp(e.timestamp),
            },
        )

    @handles(Community.DetailsChanged)
    def details_changed(self, e: Community.DetailsChanged, w: Writes) -> None:
        w.update(
            "rm_communities",
            {"id": str(e.originator_id)},
            {
                "name": e.name,
                "summary": e.summary,
                "visibility": e.visibility,
                "membership": e.membership,
            },
        )


def _membership_key(community_id: object, person_id: object) -> dict[str, str]:
    return {"community_id": str(community_id), "person_id": str(person_id)}


class MembersView(Projection):
    name = "members"
    version = 2
    tables = ("rm_members", "rm_join_requests")
    schema = (
        """CREATE TABLE IF NOT EXISTS rm_members (
            community_id TEXT NOT NULL, person_id TEXT NOT NULL, role TEXT NOT NULL,
            since TEXT NOT NULL, PRIMARY KEY (community_id, person_id))""",
        "CREATE INDEX IF NOT EXISTS rm_members_person ON rm_members (person_id)",
        """CREATE TABLE IF NOT EXISTS rm_join_requests (
            community_id TEXT NOT NULL, person_id TEXT NOT NULL, requested_at TEXT NOT NULL,
            PRIMARY KEY (community_id, person_id))""",
    )

    @handles(Community.Founded)
    def founded(self, e: Community.Founded, w: Writes) -> None:
        w.upsert(
            "rm_members",
            _membership_key(e.originator_id, e.owner_id),
            {"role": Role.OWNER.label, "since": timestamp(e.timestamp)},
        )

    @handles(Community.MemberJoined, Community.JoinApproved)
    def joined(self, e: Community.MemberJoined, w: Writes) -> None:
        key = _membership_key(e.originator_id, e.person_id)
        w.delete("rm_join_requests", key)
        w.upsert("rm_members", key, {"role": Role.MEMBER.label, "since": timestamp(e.timestamp)})

    @handles(Community.JoinRequested)
    def requested(self, e: Community.JoinRequested, w: Writes) -> None:
        key = _membership_key(e.originator_id, e.person_id)
        w.upsert("rm_join_requests", key, {"requested_at": timestamp(e.timestamp)})

    @handles(Community.JoinRejected)
    def rejected(self, e: Community.JoinRejected, w: Writes) -> None:
        w.delete("rm_join_requests", _membership_key(e.originator_id, e.person_id))

    @handles(Community.MemberLeft, Community.MemberRemoved)
    def left(self, e: Community.MemberLeft, w: Writes) -> None:
        w.delete("rm_members", _membership_key(e.originator_id, e.person_id))

    @handles(Community.RoleChanged)
    def role_changed(self, e: Community.RoleChanged, w: Writes) -> None:
        w.update("rm_members", _membership_key(e.originator_id, e.person_id), {"role": e.role})


def _gathering_details(e: Gathering.Scheduled | Gathering.DetailsChanged) -> dict[str, object]:
    return {
        "title": e.title,
        "description": e.description,
        "starts_at": timestamp(e.starts_at),
        "ends_at": timestamp(e.ends_at),
        "timezone": e.timezone,
        "location": e.location,
        "online_url": e.online_url,
        "join_mode": e.join_mode,
        "anonymous_registration": int(e.anonymous_registration),
    }


class GatheringsView(Projection):
    name = "gatherings"
    version = 2
    tables = ("rm_gatherings",)
    schema = (
        """CREATE TABLE IF NOT EXISTS rm_gatherings (
            id TEXT PRIMARY KEY, community_id TEXT NOT NULL, title TEXT NOT NULL,
            description TEXT NOT NULL, starts_at TEXT NOT NULL, ends_at TEXT NOT NULL,
            timezone TEXT NOT NULL, location TEXT, online_url TEXT, capacity BIGINT,
            join_mode TEXT NOT NULL, anonymous_registration INTEGER NOT NULL,
            status TEXT NOT NULL, scheduled_at TEXT NOT NULL, organiser TEXT NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS rm_gatherings_by_date "
        "ON rm_gatherings (community_id, starts_at)",
    )

    @handles(Gathering.Scheduled)
    def scheduled(self, e: Gathering.Scheduled, w: Writes) -> None:
        w.upsert(
            "rm_gatherings",
            {"id": str(e.originator_id)},
            {
                "community_id": str(e.community_id),
                **_gathering_details(e),
                "capacity": e.capacity,
                "status": "scheduled",
                "scheduled_at": timestamp(e.timestamp),
                "organiser": e.actor,
            },
        )

    @handles(Gathering.DetailsChanged)
    def details_changed(self, e: Gathering.DetailsChanged, w: Writes) -> None:
        w.update("rm_gatherings", {"id": str(e.originator_id)}, _gathering_details(e))

    @handles(Gathering.CapacityChanged)
    def capacity_changed(self, e: Gathering.CapacityChanged, w: Writes) -> None:
        w.update("rm_gatherings", {"id": str(e.originator_id)}, {"capacity": e.capacity})

    @handles(Gathering.Cancelled)
    def cancelled(self, e: Gathering.Cancelled, w: Writes) -> None:
        w.update("rm_gatherings", {"id": str(e.originator_id)}, {"status": "cancelled"})


class RegistrationsView(Projection):
    name = "registrations"
    version = 2
    tables = ("rm_registrations",)
    schema = (
        """CREATE TABLE IF NOT EXISTS rm_registrations (
            id TEXT PRIMARY KEY, gathering_id TEXT NOT NULL, kind TEXT, person_id TEXT,
            actor_url TEXT, status TEXT, registered_at TEXT, changed_at TEXT)""",
        "CREATE INDEX IF NOT EXISTS rm_registrations_by_gathering "
        "ON rm_registrations (gathering_id, status)",
        "CREATE INDEX IF NOT EXISTS rm_registrations_by_person ON rm_registrations (person_id)",
    )

    @handles(Registration.Submitted)
    def submitted(self, e: Registration.Submitted, w: Writes) -> None:
        w.upsert(
            "rm_registrations",
            {"id": str(e.originator_id)},
            {
                "gathering_id": str(e.gathering_id),
                "kind": e.kind,
                "person_id": None if e.person_id is None else str(e.person_id),
                "actor_url": e.actor_url,
                "registered_at": timestamp(e.timestamp),
            },
        )

    @handles(Registration.Joined)
    def joined(self, e: Registration.Joined, w: Writes) -> None:
        w.upsert(
            "rm_registrations",
            {"id": str(e.originator_id)},
            {
                "gathering_id": str(e.gathering_id),
                "kind": "remote",
                "person_id": None,
                "actor_url": e.actor_url,
                "registered_at": timestamp(e.timestamp),
            },
        )

    @handles(Gathering.RegistrationReceived)
    def received(self, e: Gathering.RegistrationReceived, w: Writes) -> None:
        # An upsert: the participant's own event may sit in another page (either side).
        w.upsert(
            "rm_registrations",
            {"id": str(e.registration_id)},
            {
                "gathering_id": str(e.originator_id),
                "status": e.status,
                "changed_at": timestamp(e.timestamp),
            },
        )

    @handles(Gathering.RegistrationApproved)
    def approved(self, e: Gathering.RegistrationApproved, w: Writes) -> None:
        self._status(e, e.registration_id, e.status, w)

    @handles(Gathering.RegistrationPromoted)
    def promoted(self, e: Gathering.RegistrationPromoted, w: Writes) -> None:
        self._status(e, e.registration_id, RegistrationStatus.CONFIRMED.value, w)

    @handles(Gathering.RegistrationDeclined)
    def declined(self, e: Gathering.RegistrationDeclined, w: Writes) -> None:
        self._status(e, e.registration_id, RegistrationStatus.DECLINED.value, w)

    @handles(Gathering.RegistrationCancelled)
    def cancelled(self, e: Gathering.RegistrationCancelled, w: Writes) -> None:
        self._status(e, e.registration_id, RegistrationStatus.CANCELLED.value, w)

    @staticmethod
    def _status(e: DomainEvent, registration_id: UUID, status: str, w: Writes) -> None:
        w.update(
            "rm_registrations",
            {"id": str(registration_id)},
            {"status": status, "changed_at": timestamp(e.timestamp)},
        )


class FollowersView(Projection):
    """Who follows our communities and people, with the inboxes deliveries go to."""

    name = "followers"
    version = 1
    tables = ("rm_followers",)
    schema = (
        """CREATE TABLE IF NOT EXISTS rm_followers (
            id TEXT PRIMARY KEY, follower TEXT NOT NULL, followed TEXT NOT NULL,
            followed_id TEXT NOT NULL, activity_id TEXT NOT NULL, inbox TEXT NOT NULL,
            shared_inbox TEXT, status TEXT NOT NULL, changed_at TEXT NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS rm_followers_by_followed ON rm_followers (followed_id, status)",
    )

    @handles(Follow.Requested)
    def requested(self, e: Follow.Requested, w: Writes) -> None:
        w.upsert(
            "rm_followers",
            {"id": str(e.originator_id)},
            {
                "follower": e.follower,
                "followed": e.followed,
                "followed_id": str(e.followed_id),
                "activity_id": e.activity_id,
                "inbox": e.inbox,
                "shared_inbox": e.shared_inbox,
                "status": FollowStatus.PENDING.value,
                "changed_at": timestamp(e.timestamp),
            },
        )

    @handles(Follow.RequestedAgain)
    def requested_again(self, e: Follow.RequestedAgain, w: Writes) -> None:
        w.update(
            "rm_followers",
            {"id": str(e.originator_id)},
            {
                "activity_id": e.activity_id,
                "inbox": e.inbox,
                "shared_inbox": e.shared_inbox,
                "status": FollowStatus.PENDING.value,
                "changed_at": timestamp(e.timestamp),
            },
        )

    @handles(Follow.Accepted)
    def accepted(self, e: Follow.Accepted, w: Writes) -> None:
        self._status(e, FollowStatus.ACCEPTED, w)

    @handles(Follow.Rejected)
    def rejected(self, e: Follow.Rejected, w: Writes) -> None:
        self._status(e, FollowStatus.REJECTED, w)

    @handles(Follow.Ended)
    def ended(self, e: Follow.Ended, w: Writes) -> None:
        self._status(e, FollowStatus.ENDED, w)

    @staticmethod
    def _status(e: DomainEvent, status: FollowStatus, w: Writes) -> None:
        w.update(
            "rm_followers",
            {"id": str(e.originator_id)},
            {"status": status.value, "changed_at": timestamp(e.timestamp)},
        )


class ReactionsView(Projection):
    """Likes and boosts of our gatherings and posts, by remote actors, one row each."""

    name = "reactions"
    version = 1
    tables = ("rm_reactions",)
    schema = (
        """CREATE TABLE IF NOT EXISTS rm_reactions (
            id TEXT PRIMARY KEY, kind TEXT NOT NULL, actor_url TEXT NOT NULL,
            object_url TEXT NOT NULL, active INTEGER NOT NULL, changed_at TEXT NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS rm_reactions_by_object ON rm_reactions (object_url, kind)",
    )

    @handles(Reaction.Reacted)
    def reacted(self, e: Reaction.Reacted, w: Writes) -> None:
        w.upsert(
            "rm_reactions",
            {"id": str(e.originator_id)},
            {
                "kind": e.kind,
                "actor_url": e.actor_url,
                "object_url": e.object_url,
                "active": 1,
                "changed_at": timestamp(e.timestamp),
            },
        )

    @handles(Reaction.Renewed, Reaction.Withdrawn)
    def changed(self, e: DomainEvent, w: Writes) -> None:
        active = int(isinstance(e, Reaction.Renewed))
        w.update(
            "rm_reactions",
            {"id": str(e.originator_id)},
            {"active": active, "changed_at": timestamp(e.timestamp)},
        )


class OutgoingView(Projection):
    """What local people asked of remote servers (follows, joins) and the answers."""

    name = "outgoing"
    version = 1
    tables = ("rm_outgoing",)
    schema = (
        """CREATE TABLE IF NOT EXISTS rm_outgoing (
            id TEXT PRIMARY KEY, kind TEXT NOT NULL, person_id TEXT NOT NULL,
            target TEXT NOT NULL, status TEXT NOT NULL, changed_at TEXT NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS rm_outgoing_by_person ON rm_outgoing (person_id, kind)",
        "CREATE INDEX IF NOT EXISTS rm_outgoing_by_target ON rm_outgoing (target, status)",
    )

    @handles(OutgoingRequest.Sent)
    def sent(self, e: OutgoingRequest.Sent, w: Writes) -> None:
        w.upsert(
            "rm_outgoing",
            {"id": str(e.originator_id)},
            {
                "kind": e.kind,
                "person_id": str(e.person_id),
                "target": e.target,
                "status": RequestStatus.PENDING.value,
                "changed_at": timestamp(e.timestamp),
            },
        )

    @handles(
        OutgoingRequest.SentAgain,
        OutgoingRequest.Accepted,
        OutgoingRequest.Rejected,
        OutgoingRequest.Withdrawn,
    )
    def answered(self, e: DomainEvent, w: Writes) -> None:
        status = {
            OutgoingRequest.SentAgain: RequestStatus.PENDING,
            OutgoingRequest.Accepted: RequestStatus.ACCEPTED,
            OutgoingRequest.Rejected: RequestStatus.REJECTED,
            OutgoingRequest.Withdrawn: RequestStatus.WITHDRAWN,
        }[type(e)]
        w.update(
            "rm_outgoing",
            {"id": str(e.originator_id)},
            {"status": status.value, "changed_at": timestamp(e.timestamp)},
        )


class RemoteGatheringsView(Projection):
    """Gatherings of other servers, as their organisers last described them."""

    name = "remote_gatherings"
    version = 1
    tables = ("rm_remote_gatherings",)
    schema = (
        """CREATE TABLE IF NOT EXISTS rm_remote_gatherings (
            id TEXT PRIMARY KEY, url TEXT NOT NULL UNIQUE, organiser TEXT NOT NULL,
            details TEXT NOT NULL, starts_at TEXT NOT NULL, heard_at TEXT NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS rm_remote_gatherings_by_organiser "
        "ON rm_remote_gatherings (organiser, starts_at)",
    )

    @handles(RemoteGathering.Heard)
    def heard(self, e: RemoteGathering.Heard, w: Writes) -> None:
        w.upsert(
            "rm_remote_gatherings",
            {"id": str(e.originator_id)},
            {
                "url": e.url,
                "organiser": e.organiser,
                "details": json.dumps(e.details),
                "starts_at": e.details["starts_at"],
                "heard_at": timestamp(e.timestamp),
            },
        )

    @handles(RemoteGathering.Changed)
    def changed(self, e: RemoteGathering.Changed, w: Writes) -> None:
        w.update(
            "rm_remote_gatherings",
            {"id": str(e.originator_id)},
            {"details": json.dumps(e.details), "starts_at": e.details["starts_at"]},
        )

    @handles(RemoteGathering.Removed)
    def removed(self, e: RemoteGathering.Removed, w: Writes) -> None:
        w.delete("rm_remote_gatherings", {"id": str(e.originator_id)})


class ReportsView(Projection):
    """Reports (ActivityPub ``Flag``) received from other servers, for the node's admins."""

    name = "reports"
    version = 1
    tables = ("rm_reports",)
    schema = (
        """CREATE TABLE IF NOT EXISTS rm_reports (
            id TEXT PRIMARY KEY, reporter TEXT NOT NULL, objects TEXT NOT NULL,
            comment TEXT NOT NULL, received_at TEXT NOT NULL)""",
    )

    @handles(InboundActivity.Received)
    def received(self, e: InboundActivity.Received, w: Writes) -> None:
        if e.activity_type != "Flag":
            return
        objects = e.payload.get("object")
        listed = objects if isinstance(objects, list) else [objects]
        ids = [o if isinstance(o, str) else o.get("id") for o in listed if o]
        comment = e.payload.get("content")
        w.upsert(
            "rm_reports",
            {"id": e.activity_id},
            {
                "reporter": Actor.parse(e.actor).ref,
                "objects": json.dumps([i for i in ids if isinstance(i, str)][:100]),
                # Shown as text, never as HTML; bounded like any remote field.
                "comment": comment[:5000] if isinstance(comment, str) else "",
                "received_at": timestamp(e.timestamp),
            },
        )


class ImportedPostsView(Projection):
    """Posts people brought along from other servers, with their original dates."""

    name = "imported_posts"
    version = 1
    tables = ("rm_imported_posts",)
    schema = (
        """CREATE TABLE IF NOT EXISTS rm_imported_posts (
            id TEXT PRIMARY KEY, person_id TEXT NOT NULL, original_url TEXT NOT NULL,
            content TEXT NOT NULL, published_at TEXT, context TEXT, imported_at TEXT NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS rm_imported_posts_by_person "
        "ON rm_imported_posts (person_id, published_at)",
    )

    @handles(ImportedPost.Imported)
    def imported(self, e: ImportedPost.Imported, w: Writes) -> None:
        w.upsert(
            "rm_imported_posts",
            {"id": str(e.originator_id)},
            {
                "person_id": str(e.person_id),
                "original_url": e.original_url,
                "content": reveal(e.content) or "",
                "published_at": None if e.published is None else timestamp(e.published),
                "context": e.context,
                "imported_at": timestamp(e.timestamp),
            },
        )

    @handles(Person.Erased)
    def erased(self, e: Person.Erased, w: Writes) -> None:
        w.delete("rm_imported_posts", {"person_id": str(e.originator_id)})


class BlocksView(Projection):
    """The node's blocked domains and actors, as the inbox and deliveries consult them."""

    name = "blocks"
    version = 1
    tables = ("rm_blocks",)
    schema = (
        """CREATE TABLE IF NOT EXISTS rm_blocks (
            kind TEXT NOT NULL, value TEXT NOT NULL, reason TEXT NOT NULL,
            blocked_at TEXT NOT NULL, PRIMARY KEY (kind, value))""",
    )

    @handles(Blocklist.Blocked)
    def blocked(self, e: Blocklist.Blocked, w: Writes) -> None:
        w.upsert(
            "rm_blocks",
            {"kind": e.kind, "value": e.value},
            {"reason": e.reason, "blocked_at": timestamp(e.timestamp)},
        )

    @handles(Blocklist.Unblocked)
    def unblocked(self, e: Blocklist.Unblocked, w: Writes) -> None:
        w.delete("rm_blocks", {"kind": e.kind, "value": e.value})


class PostsView(Projection):
    name = "posts"
    version = 2
    tables = ("rm_posts",)
    schema = (
        """CREATE TABLE IF NOT EXISTS rm_posts (
            id TEXT PRIMARY KEY, community_id TEXT NOT NULL, author TEXT NOT NULL,
            content TEXT NOT NULL, in_reply_to TEXT, published_at TEXT NOT NULL,
            edited_at TEXT, deleted INTEGER NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS rm_posts_timeline ON rm_posts (community_id, published_at)",
    )

    @handles(Post.Published, Post.Received)
    def published(self, e: Post.Published, w: Writes) -> None:
        w.upsert(
            "rm_posts",
            {"id": str(e.originator_id)},
            {
                "community_id": str(e.community_id),
                "author": e.actor,
                "content": reveal(e.content) or "",
                "in_reply_to": None if e.in_reply_to is None else str(e.in_reply_to),
                "published_at": timestamp(e.timestamp),
                "deleted": 0,
            },
        )

    @handles(Post.Edited)
    def edited(self, e: Post.Edited, w: Writes) -> None:
        w.update(
            "rm_posts",
            {"id": str(e.originator_id)},
            {"content": reveal(e.content) or "", "edited_at": timestamp(e.timestamp)},
        )

    @handles(Person.Erased)
    def author_erased(self, e: Person.Erased, w: Writes) -> None:
        # What they wrote goes with them; the posts stay as places in their threads.
        author = str(Actor.person(e.originator_id))
        w.update("rm_posts", {"author": author}, {"content": ""})

    @handles(Post.Deleted)
    def deleted(self, e: Post.Deleted, w: Writes) -> None:
        w.update(
            "rm_posts",
            {"id": str(e.originator_id)},
            {"content": "", "deleted": 1, "edited_at": timestamp(e.timestamp)},
        )


class NoticesView(Projection):
    """Notices organisers sent to a gathering's named participants."""

    name = "notices"
    version = 1
    tables = ("rm_notices",)
    schema = (
        """CREATE TABLE IF NOT EXISTS rm_notices (
            id TEXT PRIMARY KEY, gathering_id TEXT NOT NULL, actor TEXT NOT NULL,
            text TEXT NOT NULL, sent_at TEXT NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS rm_notices_by_gathering ON rm_notices (gathering_id, sent_at)",
    )

    @handles(Gathering.NoticeSent)
    def sent(self, e: Gathering.NoticeSent, w: Writes) -> None:
        w.upsert(
            "rm_notices",
            {"id": str(e.notice_id)},
            {
                "gathering_id": str(e.originator_id),
                "actor": e.actor,
                "text": reveal(e.text) or "",
                "sent_at": timestamp(e.timestamp),
            },
        )

    @handles(Person.Erased)
    def sender_erased(self, e: Person.Erased, w: Writes) -> None:
        w.update("rm_notices", {"actor": str(Actor.person(e.originator_id))}, {"text": ""})


class AgentsView(Projection):
    """A community's agents, as its admins list them (never their tokens)."""

    name = "agents"
    version = 1
    tables = ("rm_agents",)
    schema = (
        """CREATE TABLE IF NOT EXISTS rm_agents (
            id TEXT PRIMARY KEY, community_id TEXT NOT NULL, name TEXT NOT NULL,
            description TEXT NOT NULL, owner_id TEXT NOT NULL, scopes TEXT NOT NULL,
            status TEXT NOT NULL, builtin TEXT, created_at TEXT NOT NULL,
            changed_at TEXT NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS rm_agents_by_community ON rm_agents (community_id)",
    )

    @handles(Agent.Created)
    def created(self, e: Agent.Created, w: Writes) -> None:
        at = timestamp(e.timestamp)
        w.upsert(
            "rm_agents",
            {"id": str(e.originator_id)},
            {
                "community_id": str(e.community_id),
                "name": e.name,
                "description": e.description,
                "owner_id": str(e.owner_id),
                "scopes": json.dumps(e.scopes),
                "status": AgentStatus.ACTIVE.value,
                "builtin": e.builtin,
                "created_at": at,
                "changed_at": at,
            },
        )

    @handles(Agent.ScopesChanged)
    def scopes_changed(self, e: Agent.ScopesChanged, w: Writes) -> None:
        changes = {"scopes": json.dumps(e.scopes), "changed_at": timestamp(e.timestamp)}
        w.update("rm_agents", {"id": str(e.originator_id)}, changes)

    @handles(Agent.Suspended, Agent.Resumed, Agent.Removed)
    def status_changed(self, e: DomainEvent, w: Writes) -> None:
        status = {
            Agent.Suspended: AgentStatus.SUSPENDED,
            Agent.Resumed: AgentStatus.ACTIVE,
            Agent.Removed: AgentStatus.REMOVED,
        }[type(e)]
        changes = {"status": status.value, "changed_at": timestamp(e.timestamp)}
        w.update("rm_agents", {"id": str(e.originator_id)}, changes)


ALL_VIEWS: tuple[type[Projection], ...] = (
    PeopleView,
    DirectoryView,
    MembersView,
    GatheringsView,
    RegistrationsView,
    FollowersView,
    BlocksView,
    ReportsView,
    ReactionsView,
    OutgoingView,
    RemoteGatheringsView,
    ImportedPostsView,
    PostsView,
    PersonalIndex,
    TrailView,
    AgentsView,
    NoticesView,
)
