"""Who is asking: a person (with the roles they hold in each community) or an agent (with
the scopes it holds in its one community). Services decide with it, so both go through the
same rules, and an agent's acts are recorded as the agent's."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from kunveno.domain.actor import Actor
from kunveno.domain.agent import Agent, Scope
from kunveno.domain.community import Community


@dataclass(frozen=True)
class Caller:
    person_id: UUID | None = None
    agent: Agent | None = None

    @classmethod
    def person(cls, person_id: UUID) -> Caller:
        return cls(person_id=person_id)

    @classmethod
    def of_agent(cls, agent: Agent) -> Caller:
        return cls(agent=agent)

    @property
    def actor(self) -> Actor:
        if self.agent is not None:
            return self.agent.actor
        assert self.person_id is not None
        return Actor.person(self.person_id)

    @property
    def moderator(self) -> UUID | Agent:
        """As the domain's moderation rules take it: a person's id, or the agent."""
        if self.agent is not None:
            return self.agent
        assert self.person_id is not None
        return self.person_id

    def reads(self, scope: Scope, community_id: UUID | str) -> None:
        """An agent reads only in its community, with the scope; a person by the usual
        visibility rules (checked elsewhere)."""
        if self.agent is not None:
            self.agent.require(scope, UUID(str(community_id)))

    def may_post(self, community: Community) -> None:
        if self.agent is not None:
            self.agent.require(Scope.POSTS_WRITE, community.id)
        else:
            assert self.person_id is not None
            community.require_may_post(self.person_id)

    def organise(self, community: Community) -> None:
        """May schedule, change and cancel the community's gatherings."""
        if self.agent is not None:
            self.agent.require(Scope.GATHERINGS_WRITE, community.id)
        else:
            assert self.person_id is not None
            community.require_organiser(self.person_id)

    def moderates(self, community: Community) -> bool:
        if self.agent is not None:
            return self.agent.allows(Scope.MODERATION_WRITE, community.id)
        assert self.person_id is not None
        return community.can_organise(self.person_id)


def as_caller(who: UUID | Caller) -> Caller:
    return who if isinstance(who, Caller) else Caller.person(who)
