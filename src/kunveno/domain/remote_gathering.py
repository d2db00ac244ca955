"""A gathering of another server, as we last heard of it from its organiser.

Kept so local people can see and join gatherings of communities they follow. Only what the
organiser's own server said is recorded (the inbox checks the origin), and a later Update
replaces it; a Delete removes it for good (a tombstone: a replayed Create does not revive it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from kunveno.domain.actor import Actor
from kunveno.domain.base import CreationEvent, DomainEvent, KunvenoAggregate


class RemoteGathering(KunvenoAggregate):
    TOPIC = "kunveno.remote_gathering"

    url: str
    organiser: str
    details: dict[str, Any]
    removed: bool

    class Heard(CreationEvent):
        TOPIC = "kunveno.remote_gathering.heard"
        url: str
        organiser: str
        details: dict[str, Any]

        def apply(self, aggregate: Any) -> None:
            aggregate.url = self.url
            aggregate.organiser = self.organiser
            aggregate.details = self.details
            aggregate.removed = False

    class Changed(DomainEvent):
        TOPIC = "kunveno.remote_gathering.changed"
        details: dict[str, Any]

        def apply(self, aggregate: Any) -> None:
            aggregate.details = self.details

    class Removed(DomainEvent):
        TOPIC = "kunveno.remote_gathering.removed"

        def apply(self, aggregate: Any) -> None:
            aggregate.removed = True

    @staticmethod
    def id_for(url: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"remote gathering {url}")

    @classmethod
    def hear(
        cls, *, url: str, organiser: str, details: dict[str, Any], by: str, at: datetime
    ) -> RemoteGathering:
        return cls._start(
            cls.Heard,
            id=cls.id_for(url),
            actor=Actor.remote(by),
            at=at,
            url=url,
            organiser=organiser,
            details=details,
        )

    def change(self, details: dict[str, Any], *, by: str, at: datetime) -> None:
        if self.removed or details == self.details:
            return
        self._record(self.Changed, actor=Actor.remote(by), at=at, details=details)

    def remove(self, *, by: str, at: datetime) -> None:
        if not self.removed:
            self._record(self.Removed, actor=Actor.remote(by), at=at)
