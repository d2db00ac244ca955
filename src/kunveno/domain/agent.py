"""A community's agent: a program acting through the client API within the scopes its
community's admins grant it, and no further.

An agent belongs to one community, was set up by one person (its owner), and holds a set of
narrow scopes. Everything it does is recorded with ``agent:ID`` as the actor, and so is every
attempt the node refused it: the audit trail is the log itself. Its token is kept as a hash
only (``token_hash``); the token is shown once when the agent is made.

What no scope allows, whatever an admin grants: making agents, changing roles or scopes,
reading anyone's personal data beyond its scopes, exporting data, acting in another community.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from kunveno.domain.actor import Actor
from kunveno.domain.base import CreationEvent, DomainEvent, KunvenoAggregate
from kunveno.domain.errors import Conflict, InvalidValue, PermissionDenied, ScopeMissing

MAX_NAME = 60
MAX_DESCRIPTION = 1000
MAX_PATH = 300
NAME_PATTERN = re.compile(r"[^\x00-\x1f\x7f]+")


class Scope(StrEnum):
    POSTS_READ = "posts:read"
    POSTS_WRITE = "posts:write"
    GATHERINGS_READ = "gatherings:read"
    GATHERINGS_WRITE = "gatherings:write"
    REGISTRATIONS_READ = "registrations:read"  # named participants only, never anonymous ones
    MEMBERS_READ = "members:read"
    MODERATION_WRITE = "moderation:write"
    STREAM_READ = "stream:read"


SCOPES: frozenset[str] = frozenset(scope.value for scope in Scope)


class AgentStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REMOVED = "removed"


def check_scopes(scopes: Iterable[str]) -> list[str]:
    """Known scopes, each once, in a stable order; an unknown one is refused by name."""
    given = [str(scope).strip() for scope in scopes]
    unknown = sorted(set(given) - SCOPES)
    if unknown:
        raise InvalidValue(f"unknown scope(s): {', '.join(unknown)}; known: {sorted(SCOPES)}")
    return sorted(set(given))


def check_agent_text(name: str, description: str) -> tuple[str, str]:
    name = name.strip()
    if not name or len(name) > MAX_NAME or not NAME_PATTERN.fullmatch(name):
        raise InvalidValue(f"an agent's name has 1-{MAX_NAME} printable characters")
    description = description.strip()
    if len(description) > MAX_DESCRIPTION:
        raise InvalidValue(f"a description has at most {MAX_DESCRIPTION} characters")
    return name, description


class Agent(KunvenoAggregate):
    TOPIC = "kunveno.agent"

    community_id: UUID
    name: str
    description: str
    owner_id: UUID
    scopes: list[str]
    status: AgentStatus
    token_hash: str
    builtin: str | None

    class Created(CreationEvent):
        TOPIC = "kunveno.agent.created"
        community_id: UUID
        name: str
        description: str
        owner_id: UUID
        scopes: list[str]
        token_hash: str
        builtin: str | None

        def apply(self, aggregate: Any) -> None:
            aggregate.community_id = self.community_id
            aggregate.name = self.name
            aggregate.description = self.description
            aggregate.owner_id = self.owner_id
            aggregate.scopes = list(self.scopes)
            aggregate.status = AgentStatus.ACTIVE
            aggregate.token_hash = self.token_hash
            aggregate.builtin = self.builtin

    class ScopesChanged(DomainEvent):
        TOPIC = "kunveno.agent.scopes_changed"
        scopes: list[str]

        def apply(self, aggregate: Any) -> None:
            aggregate.scopes = list(self.scopes)

    class Suspended(DomainEvent):
        TOPIC = "kunveno.agent.suspended"

        def apply(self, aggregate: Any) -> None:
            aggregate.status = AgentStatus.SUSPENDED

    class Resumed(DomainEvent):
        TOPIC = "kunveno.agent.resumed"

        def apply(self, aggregate: Any) -> None:
            aggregate.status = AgentStatus.ACTIVE

    class Removed(DomainEvent):
        TOPIC = "kunveno.agent.removed"

        def apply(self, aggregate: Any) -> None:
            aggregate.status = AgentStatus.REMOVED

    class AttemptRefused(DomainEvent):
        """A request of the agent's the node refused: recorded, so the trail shows it."""

        TOPIC = "kunveno.agent.attempt_refused"
        method: str
        path: str
        scope: str | None
        reason: str

    # -- making and controlling -----------------------------------------------------------

    @classmethod
    def create(
        cls,
        *,
        agent_id: UUID,
        community_id: UUID,
        name: str,
        description: str,
        scopes: Iterable[str],
        token_hash: str,
        by: UUID,
        at: datetime,
        builtin: str | None = None,
    ) -> Agent:
        name, description = check_agent_text(name, description)
        return cls._start(
            cls.Created,
            id=agent_id,
            actor=Actor.person(by),
            at=at,
            community_id=community_id,
            name=name,
            description=description,
            owner_id=by,
            scopes=check_scopes(scopes),
            token_hash=token_hash,
            builtin=builtin,
        )

    def change_scopes(self, scopes: Iterable[str], *, by: Actor, at: datetime) -> None:
        self._require_not_removed()
        checked = check_scopes(scopes)
        if checked != self.scopes:
            self._record(self.ScopesChanged, actor=by, at=at, scopes=checked)

    def suspend(self, *, by: Actor, at: datetime) -> None:
        self._require_not_removed()
        if self.status is AgentStatus.ACTIVE:
            self._record(self.Suspended, actor=by, at=at)

    def resume(self, *, by: Actor, at: datetime) -> None:
        self._require_not_removed()
        if self.status is AgentStatus.SUSPENDED:
            self._record(self.Resumed, actor=by, at=at)

    def remove(self, *, by: Actor, at: datetime) -> None:
        """Removing is final; the agent's history stays in the log and in the trail."""
        if self.status is not AgentStatus.REMOVED:
            self._record(self.Removed, actor=by, at=at)

    def refuse(
        self, *, method: str, path: str, scope: str | None, reason: str, at: datetime
    ) -> None:
        self._record(
            self.AttemptRefused,
            actor=self.actor,
            at=at,
            method=method[:10],
            path=path[:MAX_PATH],
            scope=scope,
            reason=reason[:300],
        )

    # -- what it may do -------------------------------------------------------------------

    @property
    def actor(self) -> Actor:
        return Actor.agent(self.id)

    @property
    def active(self) -> bool:
        return self.status is AgentStatus.ACTIVE

    def allows(self, scope: Scope | str, community_id: UUID) -> bool:
        return self.active and community_id == self.community_id and str(scope) in self.scopes

    def require(self, scope: Scope | str, community_id: UUID) -> None:
        """Refuse anything outside the agent's community, status or scopes, saying which."""
        if not self.active:
            raise PermissionDenied(f"this agent is {self.status.value}")
        if community_id != self.community_id:
            raise PermissionDenied("an agent acts only in its own community")
        if str(scope) not in self.scopes:
            raise ScopeMissing(f"this agent lacks the scope {str(scope)!r}", str(scope))

    def _require_not_removed(self) -> None:
        if self.status is AgentStatus.REMOVED:
            raise Conflict("this agent was removed")
