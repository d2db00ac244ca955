"""The personal-data index: for each local person, every stored event they caused or that is
about them, by log position, so export and erasure read a person's history without scanning
the log.

Most events name their person: the actor (``person:ID``), or a field (``person_id``,
``owner_id``, a registration's ``participant``, a follow's ``followed_id``); those go straight
to ``rm_personal_events``. Some are about a thing of a person without naming them: an
organiser's decision on a registration, a seat given from the waitlist, a moderator deleting a
post, a like of a post, a peer's answer to a follow or to an outgoing request, a token revoked
by someone else. A projection folds a page without reading its own tables, so those are
indexed under the thing (``rm_personal_related``), and whose the thing is is written when it
is made (``rm_personal_things``: a registration, post, follow, request or token belongs to a
person; a reaction to a post). ``PersonalData`` reads a person's history as both, merged by
position, a page at a time.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterator, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic

from kunveno.domain.base import DomainEvent
from kunveno.domain.community import Community
from kunveno.domain.follow import Follow
from kunveno.domain.gathering import Gathering
from kunveno.domain.names import NameClaim
from kunveno.domain.outgoing import OutgoingRequest
from kunveno.domain.person import AccessToken, Person
from kunveno.domain.post import Post
from kunveno.domain.reaction import Reaction
from kunveno.domain.registration import Registration
from kunveno.projections.base import Projection, handles
from kunveno.projections.store import ReadStore, Row, Writes

PAGE = 500  # rows per read; also bounds the parameters of one IN (...) list
_PERSON = "person:"
_POST_URL = re.compile(r"/posts/([0-9a-fA-F-]{32,36})$")

# What the node holds, by kind: the aggregate part of a topic (kunveno.<aggregate>.<event>).
KINDS: dict[str, str] = {
    "person": "account",
    "name_claim": "account",
    "access_token": "sessions",
    "community": "memberships",
    "gathering": "gatherings",
    "registration": "registrations",
    "post": "posts",
    "reaction": "reactions",
    "follow": "follows",
    "outgoing": "remote_requests",
}
_LEDGER = "kunveno.gathering.registration_"


def topic_kind(topic: str) -> str:
    """The kind of data an event is (``account``, ``memberships``, ``posts``...)."""
    if topic.startswith(_LEDGER):
        return "registrations"  # a seat taken, given or freed: the registrant's data
    aggregate = topic.split(".")[1] if topic.count(".") >= 2 else ""
    return KINDS.get(aggregate, "other")


def _person(actor: str) -> str | None:
    return actor[len(_PERSON) :] if actor.startswith(_PERSON) else None


class PersonalIndex(Projection):
    name = "personal_index"
    version = 1
    tables = ("rm_personal_events", "rm_personal_things", "rm_personal_related")
    schema = (
        """CREATE TABLE IF NOT EXISTS rm_personal_events (
            person_id TEXT NOT NULL, position BIGINT NOT NULL, originator_id TEXT NOT NULL,
            originator_version INTEGER NOT NULL, topic TEXT NOT NULL,
            PRIMARY KEY (person_id, position))""",
        # Whose a thing is: a person's (person_id), or a thing's (parent_id: a post's likes).
        """CREATE TABLE IF NOT EXISTS rm_personal_things (
            thing_id TEXT PRIMARY KEY, kind TEXT NOT NULL, person_id TEXT, parent_id TEXT)""",
        "CREATE INDEX IF NOT EXISTS rm_personal_things_by_person ON rm_personal_things (person_id)",
        "CREATE INDEX IF NOT EXISTS rm_personal_things_by_parent ON rm_personal_things (parent_id)",
        """CREATE TABLE IF NOT EXISTS rm_personal_related (
            thing_id TEXT NOT NULL, position BIGINT NOT NULL, originator_id TEXT NOT NULL,
            originator_version INTEGER NOT NULL, topic TEXT NOT NULL,
            PRIMARY KEY (thing_id, position))""",
        "CREATE INDEX IF NOT EXISTS rm_personal_related_by_position "
        "ON rm_personal_related (position)",
    )

    def apply(self, event: DomainEvent, writes: Writes) -> None:
        person = _person(event.actor)
        if person is not None:
            _about(writes, event, person)  # what they did
        if isinstance(event, Person.Event):
            _about(writes, event, event.originator_id)  # their account, whoever changed it
        super().apply(event, writes)

    # -- the account --------------------------------------------------------------------

    @handles(AccessToken.Issued)
    def token_issued(self, e: AccessToken.Issued, w: Writes) -> None:
        _about(w, e, e.person_id)
        _owns(w, "token", e.originator_id, e.person_id)

    @handles(AccessToken.Revoked)
    def token_revoked(self, e: AccessToken.Revoked, w: Writes) -> None:
        _under(w, e, e.originator_id)

    @handles(NameClaim.Claimed)
    def claimed(self, e: NameClaim.Claimed, w: Writes) -> None:
        if e.kind in ("username", "handle"):
            _about(w, e, e.owner_id)

    # -- communities ----------------------------------------------------------------------

    @handles(Community.Founded)
    def founded(self, e: Community.Founded, w: Writes) -> None:
        _about(w, e, e.owner_id)

    @handles(
        Community.MemberJoined,
        Community.JoinRequested,
        Community.JoinApproved,
        Community.JoinRejected,
        Community.Invited,
        Community.MemberLeft,
        Community.MemberRemoved,
        Community.RoleChanged,
    )
    def membership(self, e: Community.MemberJoined, w: Writes) -> None:
        _about(w, e, e.person_id)

    # -- registrations and the seat ledger ------------------------------------------------

    @handles(Registration.Submitted)
    def submitted(self, e: Registration.Submitted, w: Writes) -> None:
        if e.person_id is not None:
            _about(w, e, e.person_id)
            _owns(w, "registration", e.originator_id, e.person_id)

    @handles(Gathering.RegistrationReceived)
    def received(self, e: Gathering.RegistrationReceived, w: Writes) -> None:
        person = None if e.participant is None else _person(e.participant)
        if person is not None:
            _about(w, e, person)
            _owns(w, "registration", e.registration_id, person)

    @handles(
        Gathering.RegistrationApproved,
        Gathering.RegistrationPromoted,
        Gathering.RegistrationDeclined,
        Gathering.RegistrationCancelled,
    )
    def ledger(self, e: Gathering.RegistrationApproved, w: Writes) -> None:
        _under(w, e, e.registration_id)

    # -- posts and what peers do with them ------------------------------------------------

    @handles(Post.Published)
    def published(self, e: Post.Published, w: Writes) -> None:
        author = _person(e.actor)
        if author is not None:
            _owns(w, "post", e.originator_id, author)

    @handles(Post.Edited, Post.Deleted)
    def post_changed(self, e: DomainEvent, w: Writes) -> None:
        _under(w, e, e.originator_id)  # by the author (indexed as theirs already) or a moderator

    @handles(Reaction.Reacted)
    def reacted(self, e: Reaction.Reacted, w: Writes) -> None:
        post_id = _post_id(e.object_url)
        if post_id is not None:
            _under(w, e, post_id)
            w.upsert(
                "rm_personal_things",
                {"thing_id": str(e.originator_id)},
                {"kind": "reaction", "person_id": None, "parent_id": post_id},
            )

    @handles(Reaction.Renewed, Reaction.Withdrawn)
    def reaction_changed(self, e: DomainEvent, w: Writes) -> None:
        _under(w, e, e.originator_id)

    # -- follows and requests to other servers --------------------------------------------

    @handles(Follow.Requested)
    def followed(self, e: Follow.Requested, w: Writes) -> None:
        if e.followed_kind == "person":
            _about(w, e, e.followed_id)
            _owns(w, "follow", e.originator_id, e.followed_id)

    @handles(Follow.RequestedAgain, Follow.Accepted, Follow.Rejected, Follow.Ended)
    def follow_changed(self, e: DomainEvent, w: Writes) -> None:
        _under(w, e, e.originator_id)

    @handles(OutgoingRequest.Sent)
    def sent(self, e: OutgoingRequest.Sent, w: Writes) -> None:
        _about(w, e, e.person_id)
        _owns(w, "outgoing", e.originator_id, e.person_id)

    @handles(
        OutgoingRequest.SentAgain,
        OutgoingRequest.Accepted,
        OutgoingRequest.Rejected,
        OutgoingRequest.Withdrawn,
    )
    def request_changed(self, e: DomainEvent, w: Writes) -> None:
        _under(w, e, e.originator_id)


def _row(e: DomainEvent) -> dict[str, Any]:
    return {
        "originator_id": str(e.originator_id),
        "originator_version": e.originator_version,
        "topic": get_topic(type(e)),
    }


def _about(w: Writes, e: DomainEvent, person_id: UUID | str) -> None:
    key = {"person_id": str(person_id), "position": w.position}
    w.upsert("rm_personal_events", key, _row(e))


def _under(w: Writes, e: DomainEvent, thing_id: UUID | str) -> None:
    key = {"thing_id": str(thing_id), "position": w.position}
    w.upsert("rm_personal_related", key, _row(e))


def _owns(w: Writes, kind: str, thing_id: UUID, person_id: UUID | str) -> None:
    w.upsert(
        "rm_personal_things",
        {"thing_id": str(thing_id)},
        {"kind": kind, "person_id": str(person_id), "parent_id": None},
    )


def _post_id(object_url: str) -> str | None:
    found = _POST_URL.search(object_url)
    if found is None:
        return None
    try:
        return str(UUID(found.group(1)))
    except ValueError:
        return None


# -- reading a person's data -----------------------------------------------------------------

_COLUMNS = "position, originator_id, originator_version, topic"
_DIRECT = f"SELECT {_COLUMNS} FROM rm_personal_events WHERE person_id = %s"
# Events about a thing of the person's: theirs, or a thing of their thing (a like of their
# post). Read in log order through the position index, joining each row to its thing, so a
# page costs the rows it passes over, not (as an IN over all their things did) all of their
# things again: an export of 100,000 posts read pages in time that grew with the history.
_RELATED = (
    "SELECT r.position, r.originator_id, r.originator_version, r.topic "
    "FROM rm_personal_related r JOIN rm_personal_things t ON t.thing_id = r.thing_id "
    "LEFT JOIN rm_personal_things o ON o.thing_id = t.parent_id "
    "WHERE (t.person_id = %s OR o.person_id = %s)"
)


def _marks(count: int) -> str:
    return ", ".join(["%s"] * count)


class PersonalData:
    """A person's indexed events and what the read models hold about them, read in pages:
    memory stays bounded by the page, whatever the length of the history."""

    def __init__(self, store: ReadStore, page: int = PAGE) -> None:
        self._store = store
        self._page = page

    # -- the index ------------------------------------------------------------------------

    def events(self, person_id: str, topics: Sequence[str] = ()) -> Iterator[Row]:
        """Rows (position, originator_id, originator_version, topic) in log order, each once."""
        direct = self._after(_DIRECT, (person_id,), topics)
        related = self._after(_RELATED, (person_id, person_id), topics)
        last = 0
        for row in heapq.merge(direct, related, key=lambda r: int(r["position"])):
            position = int(row["position"])
            if position != last:  # an event both by them and about a thing of theirs
                last = position
                yield row

    def _after(self, select: str, params: tuple[str, ...], topics: Sequence[str]) -> Iterator[Row]:
        where = f" AND topic IN ({_marks(len(topics))})" if topics else ""
        sql = f"{select}{where} AND position > %s ORDER BY position LIMIT %s"
        after = 0
        while True:
            rows = self._store.query(sql, (*params, *topics, after, self._page))
            yield from rows
            if len(rows) < self._page:
                return
            after = int(rows[-1]["position"])

    def topic_counts(self, person_id: str) -> dict[str, int]:
        rows = self._store.query(
            f"SELECT topic, COUNT(*) AS n FROM ({_DIRECT} UNION {_RELATED}) AS mine "
            "GROUP BY topic ORDER BY topic",
            (person_id, person_id, person_id),
        )
        return {str(row["topic"]): int(row["n"]) for row in rows}

    def count(self, person_id: str) -> int:
        return sum(self.topic_counts(person_id).values())

    def holdings(self, person_id: str) -> dict[str, int]:
        """What the read models hold about the person now, by kind."""
        mine = "SELECT originator_id FROM rm_personal_events WHERE person_id = %s AND topic = %s"
        row = self._store.query(
            "SELECT "
            "(SELECT COUNT(*) FROM rm_members WHERE person_id = %s) AS memberships, "
            "(SELECT COUNT(*) FROM rm_join_requests WHERE person_id = %s) AS join_requests, "
            "(SELECT COUNT(*) FROM rm_registrations WHERE person_id = %s) AS registrations, "
            f"(SELECT COUNT(*) FROM rm_gatherings WHERE id IN ({mine})) AS gatherings_organised, "
            f"(SELECT COUNT(*) FROM rm_posts WHERE deleted = 0 AND id IN ({mine})) AS posts, "
            "(SELECT COUNT(*) FROM rm_followers WHERE followed_id = %s "
            "AND status = 'accepted') AS followers, "
            "(SELECT COUNT(*) FROM rm_outgoing WHERE person_id = %s AND kind = 'follow' "
            "AND status IN ('pending', 'accepted')) AS following",
            (
                person_id,
                person_id,
                person_id,
                person_id,
                get_topic(Gathering.Scheduled),
                person_id,
                get_topic(Post.Published),
                person_id,
                person_id,
            ),
        )[0]
        return {str(key): int(value) for key, value in row.items()}

    # -- what the read models say of the things in it -------------------------------------

    def posts(self, post_ids: Sequence[str]) -> dict[str, Row]:
        """Posts by id (at most a page), with their community's slug and visibility."""
        if not post_ids:
            return {}
        rows = self._store.query(
            "SELECT p.*, c.slug AS community_slug, c.visibility AS community_visibility "
            "FROM rm_posts p JOIN rm_communities c ON c.id = p.community_id "
            f"WHERE p.id IN ({_marks(len(post_ids))})",
            tuple(post_ids),
        )
        return {str(row["id"]): row for row in rows}

    def registrations(self, registration_ids: Sequence[str]) -> dict[str, Row]:
        """Registrations by id (at most a page), with their gathering."""
        if not registration_ids:
            return {}
        rows = self._store.query(
            "SELECT r.id, r.gathering_id, r.status, r.registered_at, r.changed_at, g.title, "
            "g.starts_at, g.ends_at, g.timezone, g.location, g.online_url, "
            "g.status AS gathering_status, c.slug AS community_slug "
            "FROM rm_registrations r JOIN rm_gatherings g ON g.id = r.gathering_id "
            "JOIN rm_communities c ON c.id = g.community_id "
            f"WHERE r.id IN ({_marks(len(registration_ids))})",
            tuple(registration_ids),
        )
        return {str(row["id"]): row for row in rows}

    def gatherings(self, person_id: str) -> Iterator[Row]:
        """Every gathering the person registered for or scheduled (never who else came)."""
        mine = (
            "SELECT gathering_id FROM rm_registrations WHERE person_id = %s UNION "
            "SELECT originator_id FROM rm_personal_events WHERE person_id = %s AND topic = %s"
        )
        yield from self._keyset(
            f"SELECT g.* FROM rm_gatherings g WHERE g.id IN ({mine})",
            (person_id, person_id, get_topic(Gathering.Scheduled)),
            "g.id",
            "id",
        )

    def memberships(self, person_id: str) -> Iterator[Row]:
        yield from self._keyset(
            "SELECT m.community_id, m.role, m.since, c.slug, c.name, c.visibility "
            "FROM rm_members m JOIN rm_communities c ON c.id = m.community_id "
            "WHERE m.person_id = %s",
            (person_id,),
            "m.community_id",
            "community_id",
        )

    def join_requests(self, person_id: str) -> Iterator[Row]:
        yield from self._keyset(
            "SELECT j.community_id, j.requested_at, c.slug, c.name "
            "FROM rm_join_requests j JOIN rm_communities c ON c.id = j.community_id "
            "WHERE j.person_id = %s",
            (person_id,),
            "j.community_id",
            "community_id",
        )

    def followers(self, person_id: str) -> Iterator[Row]:
        """Remote actors who follow the person, or asked to."""
        yield from self._keyset(
            "SELECT id, follower, status, changed_at FROM rm_followers "
            "WHERE followed_id = %s AND status IN ('accepted', 'pending')",
            (person_id,),
            "id",
            "id",
        )

    def requests(self, person_id: str, kind: str) -> Iterator[Row]:
        """What the person asked of other servers (``follow``, ``join``), with the answers."""
        yield from self._keyset(
            "SELECT id, target, status, changed_at FROM rm_outgoing "
            "WHERE person_id = %s AND kind = %s",
            (person_id, kind),
            "id",
            "id",
        )

    def _keyset(self, select: str, params: tuple[str, ...], key: str, name: str) -> Iterator[Row]:
        """Rows of ``select`` (ending in a WHERE clause) in ``key`` order, a page at a time."""
        sql = f"{select} AND {key} > %s ORDER BY {key} LIMIT %s"
        after = ""
        while True:
            rows = self._store.query(sql, (*params, after, self._page))
            yield from rows
            if len(rows) < self._page:
                return
            after = str(rows[-1][name])
