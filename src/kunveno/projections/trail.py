"""The trail: every stored event that happened in a community, by log position, with its
actor, and which scope it takes (to do) and gives (to watch).

It serves the audit (``actor = agent:ID``, a person, a remote actor; between two times) and
the agents' stream (a community's events after a position, those an agent's scopes let it
see). Both are the log itself, in its order: a row per event, nothing summarised.

A projection folds a page without reading its own tables, so which community an event is in
is written once per thing (``rm_trail_things``: a community, gathering, post or agent, from
its first event) and joined when read.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from uuid import UUID

from eventsourcing.utils import get_topic

from kunveno.domain.actor import Actor, ActorKind, check_actor_url
from kunveno.domain.agent import Agent, Scope
from kunveno.domain.base import DomainEvent
from kunveno.domain.community import Community
from kunveno.domain.errors import InvalidValue
from kunveno.domain.follow import Follow
from kunveno.domain.gathering import Gathering
from kunveno.domain.post import Post
from kunveno.projections.base import Projection
from kunveno.projections.store import ReadStore, Row, Writes, from_timestamp, timestamp

# What an agent needs to do it (``scope``) and to see it on the stream (``stream``); an
# event without a ``stream`` scope is never streamed (an agent's own controls, follows...).
_MEMBERS = (Scope.MODERATION_WRITE, Scope.MEMBERS_READ)
_GATHERINGS = (Scope.GATHERINGS_WRITE, Scope.GATHERINGS_READ)
_POSTS = (Scope.POSTS_WRITE, Scope.POSTS_READ)
# An organiser's approval, decline or capacity change (an agent: gatherings:write).
_LEDGER = (Scope.GATHERINGS_WRITE, Scope.REGISTRATIONS_READ)
_NONE: tuple[Scope | None, Scope | None] = (None, None)
SCOPES_OF: dict[type[DomainEvent], tuple[Scope | None, Scope | None]] = {
    Community.Founded: _NONE,
    Community.DetailsChanged: _NONE,
    Community.MemberJoined: (None, Scope.MEMBERS_READ),
    Community.JoinRequested: (None, Scope.MEMBERS_READ),
    Community.JoinApproved: _MEMBERS,
    Community.JoinRejected: _MEMBERS,
    Community.Invited: (None, Scope.MEMBERS_READ),
    Community.MemberLeft: (None, Scope.MEMBERS_READ),
    Community.MemberRemoved: (None, Scope.MEMBERS_READ),
    Community.RoleChanged: (None, Scope.MEMBERS_READ),
    Gathering.Scheduled: _GATHERINGS,
    Gathering.DetailsChanged: _GATHERINGS,
    Gathering.CapacityChanged: _GATHERINGS,
    Gathering.Cancelled: _GATHERINGS,
    # Not streamed: its words are the sender's personal data, for the registrants only.
    Gathering.NoticeSent: (Scope.GATHERINGS_WRITE, None),
    Gathering.RegistrationReceived: _LEDGER,
    Gathering.RegistrationApproved: _LEDGER,
    Gathering.RegistrationPromoted: _LEDGER,
    Gathering.RegistrationDeclined: _LEDGER,
    Gathering.RegistrationCancelled: _LEDGER,
    Post.Published: _POSTS,
    Post.Received: (None, Scope.POSTS_READ),
    Post.Edited: _POSTS,
    Post.Deleted: _POSTS,  # moderation:write when not the author's own (see the audit query)
    Agent.Created: _NONE,
    Agent.ScopesChanged: _NONE,
    Agent.Suspended: _NONE,
    Agent.Resumed: _NONE,
    Agent.Removed: _NONE,
    Agent.AttemptRefused: _NONE,
    Follow.Requested: _NONE,
    Follow.RequestedAgain: _NONE,
    Follow.Accepted: _NONE,
    Follow.Rejected: _NONE,
    Follow.Ended: _NONE,
}
TOPICS = frozenset(get_topic(kind) for kind in SCOPES_OF)


class TrailView(Projection):
    name = "trail"
    version = 2
    tables = ("rm_trail", "rm_trail_things")
    schema = (
        # subject_id: the registration a ledger event is about (anonymous ones are never
        # streamed: registrations:read is for named participants only). detail and request:
        # why an agent's attempt was refused, and what it asked ("POST /api/v1/...").
        """CREATE TABLE IF NOT EXISTS rm_trail (
            position BIGINT PRIMARY KEY, originator_id TEXT NOT NULL,
            originator_version INTEGER NOT NULL, topic TEXT NOT NULL, actor TEXT NOT NULL,
            at TEXT NOT NULL, scope TEXT, stream_scope TEXT, subject_id TEXT,
            detail TEXT, request TEXT)""",
        "CREATE INDEX IF NOT EXISTS rm_trail_by_actor ON rm_trail (actor, position)",
        "CREATE INDEX IF NOT EXISTS rm_trail_by_thing ON rm_trail (originator_id, position)",
        # author: who published a post (an agent deleting another's post moderates).
        # A registration's row says only whether it is named (author: its participant).
        """CREATE TABLE IF NOT EXISTS rm_trail_things (
            thing_id TEXT PRIMARY KEY, community_id TEXT, kind TEXT NOT NULL, author TEXT)""",
        "CREATE INDEX IF NOT EXISTS rm_trail_things_by_community ON rm_trail_things (community_id)",
    )

    def apply(self, event: DomainEvent, writes: Writes) -> None:
        scopes = SCOPES_OF.get(type(event))
        if scopes is None:
            return
        community = _community_of(event)
        if isinstance(event, Follow.Requested) and community is None:
            return  # a follow of a person or of the instance: not a community's
        if community is not None:
            writes.upsert(
                "rm_trail_things",
                {"thing_id": str(event.originator_id)},
                {
                    "community_id": str(community),
                    "kind": type(event).__qualname__.split(".")[0].lower(),
                    "author": event.actor if isinstance(event, Post.Published) else None,
                },
            )
        if isinstance(event, Gathering.RegistrationReceived):
            writes.upsert(
                "rm_trail_things",
                {"thing_id": str(event.registration_id)},
                {"community_id": None, "kind": "registration", "author": event.participant},
            )
        scope, stream = scopes
        refused = event if isinstance(event, Agent.AttemptRefused) else None
        writes.upsert(
            "rm_trail",
            {"position": writes.position},
            {
                "originator_id": str(event.originator_id),
                "originator_version": event.originator_version,
                "topic": get_topic(type(event)),
                "actor": event.actor,
                "at": timestamp(event.timestamp),
                "scope": _scope_used(event, scope),
                "stream_scope": None if stream is None else stream.value,
                "subject_id": _subject(event),
                "detail": None if refused is None else refused.reason,
                "request": None if refused is None else f"{refused.method} {refused.path}",
            },
        )


def _community_of(event: DomainEvent) -> UUID | None:
    """The community a thing's first event names (later events are joined by thing)."""
    if isinstance(event, Community.Founded):
        return event.originator_id
    if isinstance(event, Gathering.Scheduled | Post.Published | Post.Received | Agent.Created):
        return event.community_id
    if isinstance(event, Follow.Requested):
        return event.followed_id if event.followed_kind == "community" else None
    return None


def _scope_used(event: DomainEvent, scope: Scope | None) -> str | None:
    if isinstance(event, Agent.AttemptRefused):
        return event.scope
    return None if scope is None else scope.value


def _subject(event: DomainEvent) -> str | None:
    registration = getattr(event, "registration_id", None)
    return None if registration is None else str(registration)


# -- reading ----------------------------------------------------------------------------------

_IN_COMMUNITY = (
    "FROM rm_trail t JOIN rm_trail_things k ON k.thing_id = t.originator_id "
    "WHERE k.community_id = %s"
)
_COLUMNS = (
    "t.position, t.originator_id, t.originator_version, t.topic, t.actor, t.at, "
    "CASE WHEN t.topic = 'kunveno.post.deleted' AND t.scope IS NOT NULL "
    "AND k.author <> t.actor THEN 'moderation:write' ELSE t.scope END AS scope, "
    "t.stream_scope, t.subject_id"
)
# A ledger event is streamed only when its registration is a named participant's.
_NAMED = (
    "(t.stream_scope <> 'registrations:read' OR EXISTS (SELECT 1 FROM rm_trail_things r "
    "WHERE r.thing_id = t.subject_id AND r.author IS NOT NULL))"
)


class Trail:
    """Reads of the trail: a community's audit, and what an agent's stream may carry."""

    def __init__(self, store: ReadStore) -> None:
        self._store = store

    def audit(
        self,
        community_id: UUID,
        *,
        actor: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after: int = 0,
        limit: int = 500,
    ) -> list[Row]:
        """The community's events in log order after position ``after``: by ``actor`` when
        given, at or after ``since`` and before ``until``."""
        where, params = "", [str(community_id)]
        if actor is not None:
            where += " AND t.actor = %s"
            params.append(actor)
        if since is not None:
            where += " AND t.at >= %s"
            params.append(timestamp(since))
        if until is not None:
            where += " AND t.at < %s"
            params.append(timestamp(until))
        return self._store.query(
            f"SELECT {_COLUMNS}, t.detail, t.request {_IN_COMMUNITY}{where} "
            "AND t.position > %s ORDER BY t.position LIMIT %s",
            (*params, after, limit),
        )

    def entries(
        self,
        community_id: UUID,
        *,
        actor: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after: int = 0,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """``audit`` as people read it: each actor named, each topic a short action."""
        rows = self.audit(
            community_id, actor=actor, since=since, until=until, after=after, limit=limit
        )
        labels = self.labels({str(row["actor"]) for row in rows})
        return [_entry(row, labels) for row in rows]

    def labels(self, actors: Collection[str]) -> dict[str, str]:
        """What to call each actor: a person's username, ``agent NAME``, a remote actor's URL,
        ``system`` or ``anonymous`` (a person or agent no read model knows: its reference)."""
        labels = {actor: actor.removeprefix("remote:") for actor in actors}
        for table, kind, column in (
            ("rm_people", "person", "username"),
            ("rm_agents", "agent", "name"),
        ):
            ids = sorted(a.partition(":")[2] for a in actors if a.startswith(f"{kind}:"))
            for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
                marks = ", ".join(["%s"] * len(chunk))
                found = self._store.query(
                    f"SELECT id, {column} AS name FROM {table} WHERE id IN ({marks})", chunk
                )
                for row in found:
                    name = str(row["name"])
                    labels[f"{kind}:{row['id']}"] = f"agent {name}" if kind == "agent" else name
        return labels

    def stream(
        self, community_id: UUID, scopes: Collection[str], *, after: int, limit: int = 500
    ) -> list[Row]:
        """The community's events after ``after`` that ``scopes`` let an agent watch."""
        if not scopes:
            return []
        marks = ", ".join(["%s"] * len(scopes))
        return self._store.query(
            f"SELECT {_COLUMNS} {_IN_COMMUNITY} AND t.stream_scope IN ({marks}) "
            f"AND {_NAMED} AND t.position > %s ORDER BY t.position LIMIT %s",
            (str(community_id), *scopes, after, limit),
        )


@dataclass(frozen=True)
class AuditEntry:
    """One line of a community's audit: an event of the log, as people read it."""

    position: int
    at: datetime
    actor: str
    actor_label: str
    topic: str
    action: str  # the topic without its ``kunveno.`` prefix: ``post.published``
    object_id: str  # the thing the event happened to (an attempt's: the agent)
    scope: str | None  # the agent scope it took; people act by role, so none for them
    detail: str | None  # why an agent's attempt was refused
    request: str | None  # what that attempt asked: ``POST /api/v1/...``

    def as_json(self) -> dict[str, object]:
        moment = timestamp(self.at)
        return {**asdict(self), "at": moment}


def _entry(row: Row, labels: dict[str, str]) -> AuditEntry:
    actor, topic = str(row["actor"]), str(row["topic"])
    return AuditEntry(
        position=int(row["position"]),
        at=from_timestamp(row["at"]),
        actor=actor,
        actor_label=labels.get(actor, actor),
        topic=topic,
        action=topic.removeprefix("kunveno."),
        object_id=str(row["originator_id"]),
        scope=row["scope"] if actor.startswith("agent:") else None,
        detail=row["detail"],
        request=row["request"],
    )


# -- what an audit may ask ---------------------------------------------------------------------


def audit_actor(text: str) -> str:
    """An actor as the trail stores it, from ``person:ID``, ``agent:ID``, ``remote:URL``, a
    bare remote actor URL, ``system`` or ``anonymous``."""
    text = text.strip()
    if text.lower().startswith(("http://", "https://")):
        text = f"remote:{text}"
    try:
        actor = Actor.parse(text)
    except ValueError:
        raise InvalidValue(
            f"not an actor: {text[:100]!r} (give person:ID, agent:ID or a remote actor URL)"
        ) from None
    if actor.kind is ActorKind.REMOTE:
        return str(Actor.remote(check_actor_url(actor.ref)))
    return str(actor)


def audit_instant(text: str, name: str) -> datetime:
    """An RFC 3339 time with its offset (``2025-05-01T18:00:00Z``), or a date alone
    (``2025-05-01``: its start, UTC)."""
    text = text.strip()
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None and len(text) == 10:
            moment = moment.replace(tzinfo=UTC)  # a date: midnight UTC
        timestamp(moment)  # in range once in UTC
    except (ValueError, OverflowError):
        raise InvalidValue(
            f"{name}: not a time: {text[:60]!r} (e.g. 2025-05-01T18:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        raise InvalidValue(f"{name}: give the time with its offset, e.g. {text[:19]}Z")
    return moment


def audit_window(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    """``since`` (from, inclusive) and ``until`` (to, exclusive), parsed and in order."""
    start = None if since is None else audit_instant(since, "since")
    end = None if until is None else audit_instant(until, "until")
    if start is not None and end is not None and start >= end:
        raise InvalidValue("since must be before until")
    return start, end
