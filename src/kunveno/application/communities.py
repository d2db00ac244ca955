"""Founding communities and managing who belongs to them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar
from uuid import UUID, uuid4

from kunveno.application.callers import Caller, as_caller
from kunveno.application.log import CommandBus, Decision, EventLog, Outcome
from kunveno.application.ports import Clock
from kunveno.domain.actor import Actor
from kunveno.domain.community import Community, JoinOutcome, Membership, Role, Visibility
from kunveno.domain.errors import InvalidValue, NameTaken, NotFound
from kunveno.domain.names import RESERVED_SLUGS, NameClaim, normalise_slug

R = TypeVar("R")


class CommunityService:
    def __init__(self, log: EventLog, commands: CommandBus, clock: Clock) -> None:
        self._log = log
        self._commands = commands
        self._clock = clock

    def id_for(self, slug: str) -> UUID:
        try:
            name = normalise_slug(slug)
        except InvalidValue:
            raise NotFound("no such community") from None
        return self._log.load(NameClaim, NameClaim.id_for("community", name), "community").owner_id

    def load(self, slug: str) -> Community:
        return self._log.load(Community, self.id_for(slug), "community")

    def found(
        self,
        person_id: UUID,
        *,
        slug: str,
        name: str,
        summary: str,
        visibility: Visibility,
        membership: Membership,
    ) -> Outcome[UUID]:
        slug = normalise_slug(slug)
        if slug in RESERVED_SLUGS:
            raise NameTaken(f"the name {slug!r} is reserved")
        community_id = uuid4()

        def decide() -> Decision[UUID]:
            if self._log.exists(NameClaim.id_for("handle", slug)):
                raise NameTaken(f"the name {slug!r} is taken by a community or a person")
            now = self._clock.now()
            actor = Actor.person(person_id)
            claim = NameClaim.claim("community", slug, community_id, actor, now)
            # People and communities share one WebFinger namespace (acct:NAME@HOST).
            handle = NameClaim.claim("handle", slug, community_id, actor, now)
            community = Community.found(
                community_id=community_id,
                slug=slug,
                name=name,
                summary=summary,
                visibility=visibility,
                membership=membership,
                owner_id=person_id,
                at=now,
            )
            return [claim, handle, community], community_id

        return self._commands.run(decide)

    def join(self, person_id: UUID, slug: str) -> Outcome[JoinOutcome]:
        return self._change(slug, lambda c, now: c.join(person_id, at=now))

    def leave(self, person_id: UUID, slug: str) -> Outcome[None]:
        return self._change(slug, lambda c, now: c.leave(person_id, at=now))

    def approve(self, by: UUID | Caller, slug: str, person_id: UUID) -> Outcome[None]:
        who = as_caller(by).moderator
        return self._change(slug, lambda c, now: c.approve(person_id, by=who, at=now))

    def reject(self, by: UUID | Caller, slug: str, person_id: UUID) -> Outcome[None]:
        who = as_caller(by).moderator
        return self._change(slug, lambda c, now: c.reject(person_id, by=who, at=now))

    def invite(self, by: UUID, slug: str, person_id: UUID) -> Outcome[None]:
        return self._change(slug, lambda c, now: c.invite(person_id, by=by, at=now))

    def remove(self, by: UUID, slug: str, person_id: UUID) -> Outcome[None]:
        return self._change(slug, lambda c, now: c.remove(person_id, by=by, at=now))

    def change_role(self, by: UUID, slug: str, person_id: UUID, role: Role) -> Outcome[None]:
        return self._change(slug, lambda c, now: c.change_role(person_id, role, by=by, at=now))

    def _change(self, slug: str, act: Callable[[Community, datetime], R]) -> Outcome[R]:
        """Load the community fresh, act on it, save; again on a concurrent change."""

        def decide() -> Decision[R]:
            community = self.load(slug)
            return [community], act(community, self._clock.now())

        return self._commands.run(decide)
