"""A community's events as its agents may watch them: the trail's rows after a log position,
their stored events read by position and each rendered once, as the JSON message that the
stream and the webhooks both carry.

A message says what happened (topic), where in the log (position), when, who did it (with
"by agent NAME" for an agent), to what, which scope lets an agent see it, and the event's
own fields: never a secret (a hash, a token), personal data only as the stored event holds
it (``null`` once its person is erased), and never an anonymous registrant's anything (the
trail leaves their registrations out of the stream).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any
from uuid import UUID

import orjson

from kunveno.adapters.persistence.stored_events import StoredEvents
from kunveno.application.log import EventLog
from kunveno.domain.agent import AgentStatus, Scope
from kunveno.domain.base import DomainEvent
from kunveno.domain.pii import PII
from kunveno.projections.queries import Queries
from kunveno.projections.store import ReadStore, Row
from kunveno.projections.trail import SCOPES_OF, Trail

# Every scope that lets an agent watch something: a page holds what any of them allows, and
# each watcher keeps what its own scopes do.
STREAM_SCOPES = frozenset(watch.value for _, watch in SCOPES_OF.values() if watch is not None)
PAGE_SIZE = 500  # as the projections read the log: a page of a stream far behind
_META = frozenset({"originator_id", "originator_version", "timestamp", "actor", "originator_topic"})
_SECRET_MARKS = ("hash", "token", "secret", "password")


@dataclass(frozen=True)
class FeedItem:
    position: int
    scope: str  # the scope that lets an agent see it
    data: bytes  # the message, as JSON
    frame: bytes = field(repr=False)  # the message as one Server-Sent Event


@dataclass(frozen=True)
class AgentState:
    status: str
    scopes: frozenset[str]


@dataclass(frozen=True)
class FeedPage:
    items: list[FeedItem]
    last: int | None  # the position of the last row read (a watcher has seen it, shown or not)
    full: bool  # as many rows as asked for: more may follow at once
    # The community's agents (not removed) as the read models had them *after* the rows were
    # read: an agent suspended before any of these events shows so here.
    agents: dict[str, AgentState]


def allowed_scopes(status: str, scopes: Iterable[str]) -> frozenset[str] | str:
    """What an agent in this state may watch with, or why it may not watch at all."""
    if status != AgentStatus.ACTIVE.value:
        return f"this agent is {status}"
    if Scope.STREAM_READ.value not in scopes:
        return f"this agent lacks the scope {Scope.STREAM_READ.value!r}"
    return frozenset(scopes)


def trail_position(store: ReadStore) -> int:
    """How far the trail has folded the log, as its tracking row says (any process)."""
    rows = store.query("SELECT position FROM rm_tracking WHERE name = %s", ("trail",))
    return int(rows[0]["position"]) if rows else 0


class Feed:
    def __init__(self, store: ReadStore, log: EventLog, queries: Queries) -> None:
        self._trail = Trail(store)
        self._events = StoredEvents(store, log)
        self._log = log
        self._queries = queries

    def page(self, community_id: UUID, after: int, limit: int = PAGE_SIZE) -> FeedPage:
        """The community's watchable events after position ``after``, in log order."""
        rows = self._trail.stream(community_id, STREAM_SCOPES, after=after, limit=limit)
        # Read after the rows, so a suspension logged before any of them is seen (the read
        # models fold the log in order, a page per transaction).
        agents = {
            str(row["id"]): AgentState(str(row["status"]), frozenset(json.loads(row["scopes"])))
            for row in self._queries.agents(str(community_id))
        }
        stored = self._events.by_position([int(row["position"]) for row in rows])
        names = self._queries.agent_names(sorted({str(row["actor"]) for row in rows}))
        items = []
        for row in rows:
            found = stored.get(int(row["position"]))
            if found is None:
                continue  # in the trail, yet not in the log: never expected, never invented
            event = self._log.mapper.to_domain_event(found)
            if isinstance(event, DomainEvent):
                items.append(_item(row, event, community_id, names))
        last = int(rows[-1]["position"]) if rows else None
        return FeedPage(items, last, len(rows) >= limit, agents)


def _item(row: Row, event: DomainEvent, community_id: UUID, names: dict[str, str]) -> FeedItem:
    position, topic = int(row["position"]), str(row["topic"])
    data = orjson.dumps(
        {
            "position": position,
            "topic": topic,
            "at": event.timestamp,
            "actor": event.actor,
            "by_agent": by_agent(event.actor, names),
            "object_id": event.originator_id,
            "object_version": event.originator_version,
            "community_id": community_id,
            "scope": row["stream_scope"],
            "payload": payload(event),
        }
    )
    frame = b"id: %d\nevent: %s\ndata: %s\n\n" % (position, topic.encode(), data)
    return FeedItem(position, str(row["stream_scope"]), data, frame)


def by_agent(actor: str, names: dict[str, str]) -> dict[str, str] | None:
    if not actor.startswith("agent:"):
        return None
    name = names.get(actor, "?")
    return {"id": actor.partition(":")[2], "name": name, "label": f"by agent {name}"}


def payload(event: DomainEvent) -> dict[str, Any]:
    """The event's own fields as JSON, secrets left out."""
    return {
        key: _plain(value)
        for key, value in vars(event).items()
        if key not in _META and not _secret(key)
    }


def _secret(key: str) -> bool:
    return any(mark in key for mark in _SECRET_MARKS)


def _plain(value: Any) -> Any:
    """Personal data as the event holds it (None once erased); the rest as JSON values."""
    if isinstance(value, PII):
        return _plain(value.value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return _plain(value.value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if not _secret(str(k))}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(item) for item in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
