"""A remote actor's Like or Announce (boost) of one of our gatherings or posts.

One stream per (kind, actor, object), so a repeated Like is the same stream and counts once
(SECURITY "domain-level deduplication"), and an Undo finds what it undoes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from kunveno.domain.actor import Actor
from kunveno.domain.base import CreationEvent, DomainEvent, KunvenoAggregate
from kunveno.domain.errors import InvalidValue

KINDS = frozenset({"like", "announce"})


class Reaction(KunvenoAggregate):
    TOPIC = "kunveno.reaction"

    kind: str
    actor_url: str
    object_url: str
    active: bool

    class Reacted(CreationEvent):
        TOPIC = "kunveno.reaction.reacted"
        kind: str
        actor_url: str
        object_url: str
        activity_id: str

        def apply(self, aggregate: Any) -> None:
            aggregate.kind = self.kind
            aggregate.actor_url = self.actor_url
            aggregate.object_url = self.object_url
            aggregate.active = True

    class Renewed(DomainEvent):
        TOPIC = "kunveno.reaction.renewed"
        activity_id: str

        def apply(self, aggregate: Any) -> None:
            aggregate.active = True

    class Withdrawn(DomainEvent):
        TOPIC = "kunveno.reaction.withdrawn"

        def apply(self, aggregate: Any) -> None:
            aggregate.active = False

    @staticmethod
    def id_for(kind: str, actor_url: str, object_url: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"reaction {kind} {actor_url} {object_url}")

    @classmethod
    def react(
        cls, *, kind: str, actor_url: str, object_url: str, activity_id: str, at: datetime
    ) -> Reaction:
        if kind not in KINDS:
            raise InvalidValue(f"a reaction is one of {sorted(KINDS)}")
        return cls._start(
            cls.Reacted,
            id=cls.id_for(kind, actor_url, object_url),
            actor=Actor.remote(actor_url),
            at=at,
            kind=kind,
            actor_url=actor_url,
            object_url=object_url,
            activity_id=activity_id,
        )

    def renew(self, activity_id: str, *, at: datetime) -> None:
        if not self.active:
            self._record(
                self.Renewed, actor=Actor.remote(self.actor_url), at=at, activity_id=activity_id
            )

    def withdraw(self, *, at: datetime) -> None:
        if self.active:
            self._record(self.Withdrawn, actor=Actor.remote(self.actor_url), at=at)
