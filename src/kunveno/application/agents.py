"""Agents: made by a community's admins, acting with a token within their scopes.

A token reads ``kva_<agent id>_<secret>``: the id says which agent to load (one read of the
log, so a suspension or a removal is seen on the very next request), and only the SHA-256 of
the whole token is stored, so the log never holds anything that acts as the agent.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid4

from kunveno.application.errors import Unauthenticated
from kunveno.application.log import CommandBus, Decision, EventLog, Outcome
from kunveno.application.ports import Clock
from kunveno.domain.actor import Actor
from kunveno.domain.agent import Agent
from kunveno.domain.community import Community, Role
from kunveno.domain.errors import NotFound, PermissionDenied

TOKEN_PREFIX = "kva_"  # noqa: S105 - a marker, not a secret


def is_agent_token(token: str) -> bool:
    return token.startswith(TOKEN_PREFIX)


def hash_agent_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class NewAgent:
    agent_id: UUID
    token: str  # shown once


class AgentService:
    def __init__(
        self,
        log: EventLog,
        commands: CommandBus,
        clock: Clock,
        community_for_slug: Callable[[str], Community],
    ) -> None:
        self._log = log
        self._commands = commands
        self._clock = clock
        self._community_for_slug = community_for_slug

    def load(self, agent_id: UUID) -> Agent:
        try:
            return self._log.load(Agent, agent_id, "agent")
        except NotFound:
            raise NotFound("no such agent") from None

    def create(
        self,
        by: UUID,
        slug: str,
        *,
        name: str,
        description: str,
        scopes: Iterable[str],
        builtin: str | None = None,
    ) -> Outcome[NewAgent]:
        agent_id = uuid4()
        token = f"{TOKEN_PREFIX}{agent_id.hex}_{secrets.token_urlsafe(32)}"
        scopes = list(scopes)

        def decide() -> Decision[NewAgent]:
            community = self.require_admin(by, slug)
            agent = Agent.create(
                agent_id=agent_id,
                community_id=community.id,
                name=name,
                description=description,
                scopes=scopes,
                token_hash=hash_agent_token(token),
                by=by,
                at=self._clock.now(),
                builtin=builtin,
            )
            return [agent], NewAgent(agent_id, token)

        return self._commands.run(decide)

    def authenticate(self, token: str) -> Agent:
        """The token's agent, whatever its status: the caller refuses a suspended or removed
        one with 403 (and records the attempt); an unknown or wrong token is 401."""
        _, _, rest = token.partition(TOKEN_PREFIX)
        try:
            agent_id = UUID(hex=rest.partition("_")[0])
            agent = self._log.load(Agent, agent_id, "agent")
        except (ValueError, NotFound):
            raise Unauthenticated("unknown token") from None
        if not hmac.compare_digest(agent.token_hash, hash_agent_token(token)):
            raise Unauthenticated("unknown token")
        return agent

    def change_scopes(self, by: UUID, agent_id: UUID, scopes: Iterable[str]) -> Outcome[None]:
        scopes = list(scopes)
        return self._control(
            by, agent_id, lambda a, actor, now: a.change_scopes(scopes, by=actor, at=now)
        )

    def suspend(self, by: UUID, agent_id: UUID) -> Outcome[None]:
        return self._control(by, agent_id, lambda a, actor, now: a.suspend(by=actor, at=now))

    def resume(self, by: UUID, agent_id: UUID) -> Outcome[None]:
        return self._control(by, agent_id, lambda a, actor, now: a.resume(by=actor, at=now))

    def remove(self, by: UUID, agent_id: UUID) -> Outcome[None]:
        return self._control(by, agent_id, lambda a, actor, now: a.remove(by=actor, at=now))

    def refused(
        self, agent_id: UUID, *, method: str, path: str, scope: str | None, reason: str
    ) -> Outcome[None]:
        """Record a request the node refused the agent: the attempt is part of its trail."""

        def decide() -> Decision[None]:
            agent = self.load(agent_id)
            agent.refuse(method=method, path=path, scope=scope, reason=reason, at=self._clock.now())
            return [agent], None

        return self._commands.run(decide)

    def require_admin(self, by: UUID, slug: str) -> Community:
        """The community, when ``by`` is one of its admins (who manage its agents)."""
        community = self._community_for_slug(slug)
        _require_admin(community, by)
        return community

    def require_admin_of(self, by: UUID, agent: Agent) -> Community:
        community = self._log.load(Community, agent.community_id, "community")
        _require_admin(community, by)
        return community

    def _control(
        self, by: UUID, agent_id: UUID, act: Callable[[Agent, Actor, datetime], None]
    ) -> Outcome[None]:
        def decide() -> Decision[None]:
            agent = self.load(agent_id)
            self.require_admin_of(by, agent)
            act(agent, Actor.person(by), self._clock.now())
            return [agent], None

        return self._commands.run(decide)


def _require_admin(community: Community, person_id: UUID) -> None:
    role = community.role_of(person_id)
    if role is None or role < Role.ADMIN:
        raise PermissionDenied("only an admin of the community manages its agents")
