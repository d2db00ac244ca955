"""The node's read models: people, the community directory, members, gatherings,
registrations (which give counts, remaining capacity and a person's registrations) and posts."""

from __future__ import annotations

from kunveno.domain.community import Community, Role
from kunveno.domain.gathering import Gathering, RegistrationStatus
from kunveno.domain.person import Person
from kunveno.domain.post import Post
from kunveno.domain.registration import Registration
from kunveno.projections.base import Projection, handles
from kunveno.projections.store import Writes, timestamp


class PeopleView(Projection):
    name = "people"
    tables = ("rm_people",)
    schema = (
        """CREATE TABLE IF NOT EXISTS rm_people (
            id TEXT PRIMARY KEY, username TEXT NOT NULL UNIQUE, display_name TEXT NOT NULL,
            registered_at TEXT NOT NULL)""",
    )

    @handles(Person.Registered)
    def registered(self, e: Person.Registered, w: Writes) -> None:
        w.add(
            "INSERT INTO rm_people (id, username, display_name, registered_at) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            (str(e.originator_id), e.username, e.display_name, timestamp(e.timestamp)),
        )

    @handles(Person.ProfileChanged)
    def profile_changed(self, e: Person.ProfileChanged, w: Writes) -> None:
        w.add(
            "UPDATE rm_people SET display_name = %s WHERE id = %s",
            (e.display_name, str(e.originator_id)),
        )


class DirectoryView(Projection):
    name = "communities"
    tables = ("rm_communities",)
    schema = (
        """CREATE TABLE IF NOT EXISTS rm_communities (
            id TEXT PRIMARY KEY, slug TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
            summary TEXT NOT NULL, visibility TEXT NOT NULL, membership TEXT NOT NULL,
            founded_at TEXT NOT NULL)""",
    )

    @handles(Community.Founded)
    def founded(self, e: Community.Founded, w: Writes) -> None:
        w.add(
            "INSERT INTO rm_communities (id, slug, name, summary, visibility, membership, "
            "founded_at) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            (
                str(e.originator_id),
                e.slug,
                e.name,
                e.summary,
                e.visibility,
                e.membership,
                timestamp(e.timestamp),
            ),
        )

    @handles(Community.DetailsChanged)
    def details_changed(self, e: Community.DetailsChanged, w: Writes) -> None:
        w.add(
            "UPDATE rm_communities SET name = %s, summary = %s, visibility = %s, "
            "membership = %s WHERE id = %s",
            (e.name, e.summary, e.visibility, e.membership, str(e.originator_id)),
        )


_UPSERT_MEMBER = (
    "INSERT INTO rm_members (community_id, person_id, role, since) VALUES (%s, %s, %s, %s) "
    "ON CONFLICT (community_id, person_id) DO UPDATE SET role = excluded.role"
)
_DELETE_MEMBER = "DELETE FROM rm_members WHERE community_id = %s AND person_id = %s"
_DELETE_REQUEST = "DELETE FROM rm_join_requests WHERE community_id = %s AND person_id = %s"


class MembersView(Projection):
    name = "members"
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
        w.add(
            _UPSERT_MEMBER,
            (str(e.originator_id), str(e.owner_id), Role.OWNER.label, timestamp(e.timestamp)),
        )

    @handles(Community.MemberJoined, Community.JoinApproved)
    def joined(self, e: Community.MemberJoined, w: Writes) -> None:
        key = (str(e.originator_id), str(e.person_id))
        w.add(_DELETE_REQUEST, key)
        w.add(_UPSERT_MEMBER, (*key, Role.MEMBER.label, timestamp(e.timestamp)))

    @handles(Community.JoinRequested)
    def requested(self, e: Community.JoinRequested, w: Writes) -> None:
        w.add(
            "INSERT INTO rm_join_requests (community_id, person_id, requested_at) "
            "VALUES (%s, %s, %s) ON CONFLICT (community_id, person_id) DO NOTHING",
            (str(e.originator_id), str(e.person_id), timestamp(e.timestamp)),
        )

    @handles(Community.JoinRejected)
    def rejected(self, e: Community.JoinRejected, w: Writes) -> None:
        w.add(_DELETE_REQUEST, (str(e.originator_id), str(e.person_id)))

    @handles(Community.MemberLeft, Community.MemberRemoved)
    def left(self, e: Community.MemberLeft, w: Writes) -> None:
        w.add(_DELETE_MEMBER, (str(e.originator_id), str(e.person_id)))

    @handles(Community.RoleChanged)
    def role_changed(self, e: Community.RoleChanged, w: Writes) -> None:
        w.add(
            "UPDATE rm_members SET role = %s WHERE community_id = %s AND person_id = %s",
            (e.role, str(e.originator_id), str(e.person_id)),
        )


class GatheringsView(Projection):
    name = "gatherings"
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
        w.add(
            "INSERT INTO rm_gatherings (id, community_id, title, description, starts_at, "
            "ends_at, timezone, location, online_url, capacity, join_mode, "
            "anonymous_registration, status, scheduled_at, organiser) VALUES "
            "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (id) DO NOTHING",
            (
                str(e.originator_id),
                str(e.community_id),
                e.title,
                e.description,
                timestamp(e.starts_at),
                timestamp(e.ends_at),
                e.timezone,
                e.location,
                e.online_url,
                e.capacity,
                e.join_mode,
                int(e.anonymous_registration),
                "scheduled",
                timestamp(e.timestamp),
                e.actor,
            ),
        )

    @handles(Gathering.DetailsChanged)
    def details_changed(self, e: Gathering.DetailsChanged, w: Writes) -> None:
        w.add(
            "UPDATE rm_gatherings SET title = %s, description = %s, starts_at = %s, "
            "ends_at = %s, timezone = %s, location = %s, online_url = %s, join_mode = %s, "
            "anonymous_registration = %s WHERE id = %s",
            (
                e.title,
                e.description,
                timestamp(e.starts_at),
                timestamp(e.ends_at),
                e.timezone,
                e.location,
                e.online_url,
                e.join_mode,
                int(e.anonymous_registration),
                str(e.originator_id),
            ),
        )

    @handles(Gathering.CapacityChanged)
    def capacity_changed(self, e: Gathering.CapacityChanged, w: Writes) -> None:
        w.add(
            "UPDATE rm_gatherings SET capacity = %s WHERE id = %s",
            (e.capacity, str(e.originator_id)),
        )

    @handles(Gathering.Cancelled)
    def cancelled(self, e: Gathering.Cancelled, w: Writes) -> None:
        w.add(
            "UPDATE rm_gatherings SET status = 'cancelled' WHERE id = %s", (str(e.originator_id),)
        )


_SET_STATUS = "UPDATE rm_registrations SET status = %s, changed_at = %s WHERE id = %s"


class RegistrationsView(Projection):
    name = "registrations"
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
        w.add(
            "INSERT INTO rm_registrations (id, gathering_id, kind, person_id, actor_url, "
            "registered_at) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET "
            "kind = excluded.kind, person_id = excluded.person_id, "
            "actor_url = excluded.actor_url, registered_at = excluded.registered_at",
            (
                str(e.originator_id),
                str(e.gathering_id),
                e.kind,
                None if e.person_id is None else str(e.person_id),
                e.actor_url,
                timestamp(e.timestamp),
            ),
        )

    @handles(Gathering.RegistrationReceived)
    def received(self, e: Gathering.RegistrationReceived, w: Writes) -> None:
        w.add(
            "INSERT INTO rm_registrations (id, gathering_id, status, changed_at) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET "
            "status = excluded.status, changed_at = excluded.changed_at",
            (str(e.registration_id), str(e.originator_id), e.status, timestamp(e.timestamp)),
        )

    @handles(Gathering.RegistrationApproved)
    def approved(self, e: Gathering.RegistrationApproved, w: Writes) -> None:
        w.add(_SET_STATUS, (e.status, timestamp(e.timestamp), str(e.registration_id)))

    @handles(Gathering.RegistrationPromoted)
    def promoted(self, e: Gathering.RegistrationPromoted, w: Writes) -> None:
        status = RegistrationStatus.CONFIRMED.value
        w.add(_SET_STATUS, (status, timestamp(e.timestamp), str(e.registration_id)))

    @handles(Gathering.RegistrationDeclined)
    def declined(self, e: Gathering.RegistrationDeclined, w: Writes) -> None:
        status = RegistrationStatus.DECLINED.value
        w.add(_SET_STATUS, (status, timestamp(e.timestamp), str(e.registration_id)))

    @handles(Gathering.RegistrationCancelled)
    def cancelled(self, e: Gathering.RegistrationCancelled, w: Writes) -> None:
        status = RegistrationStatus.CANCELLED.value
        w.add(_SET_STATUS, (status, timestamp(e.timestamp), str(e.registration_id)))


class PostsView(Projection):
    name = "posts"
    tables = ("rm_posts",)
    schema = (
        """CREATE TABLE IF NOT EXISTS rm_posts (
            id TEXT PRIMARY KEY, community_id TEXT NOT NULL, author TEXT NOT NULL,
            content TEXT NOT NULL, in_reply_to TEXT, published_at TEXT NOT NULL,
            edited_at TEXT, deleted INTEGER NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS rm_posts_timeline ON rm_posts (community_id, published_at)",
    )

    @handles(Post.Published)
    def published(self, e: Post.Published, w: Writes) -> None:
        w.add(
            "INSERT INTO rm_posts (id, community_id, author, content, in_reply_to, "
            "published_at, deleted) VALUES (%s, %s, %s, %s, %s, %s, 0) "
            "ON CONFLICT (id) DO NOTHING",
            (
                str(e.originator_id),
                str(e.community_id),
                e.actor,
                e.content,
                None if e.in_reply_to is None else str(e.in_reply_to),
                timestamp(e.timestamp),
            ),
        )

    @handles(Post.Edited)
    def edited(self, e: Post.Edited, w: Writes) -> None:
        w.add(
            "UPDATE rm_posts SET content = %s, edited_at = %s WHERE id = %s",
            (e.content, timestamp(e.timestamp), str(e.originator_id)),
        )

    @handles(Post.Deleted)
    def deleted(self, e: Post.Deleted, w: Writes) -> None:
        w.add(
            "UPDATE rm_posts SET content = '', deleted = 1, edited_at = %s WHERE id = %s",
            (timestamp(e.timestamp), str(e.originator_id)),
        )


ALL_VIEWS: tuple[type[Projection], ...] = (
    PeopleView,
    DirectoryView,
    MembersView,
    GatheringsView,
    RegistrationsView,
    PostsView,
)
