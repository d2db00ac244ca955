"""What a local person asks of a remote server: to follow an actor, to join a gathering.

Both have one life: sent, then accepted or rejected by the other side, then perhaps withdrawn
(Undo Follow, Leave). One stream per (kind, person, target): asking again finds the same
stream, and an answer (Accept, Reject) finds what it answers by the activity id it names.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from kunveno.domain.actor import Actor
from kunveno.domain.base import CreationEvent, DomainEvent, KunvenoAggregate
from kunveno.domain.errors import Conflict, InvalidValue


class RequestKind(StrEnum):
    FOLLOW = "follow"
    JOIN = "join"


class RequestStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class OutgoingRequest(KunvenoAggregate):
    TOPIC = "kunveno.outgoing"

    kind: RequestKind
    person_id: UUID
    target: str
    inbox: str
    activity_id: str
    status: RequestStatus

    class Sent(CreationEvent):
        TOPIC = "kunveno.outgoing.sent"
        kind: str
        person_id: UUID
        target: str
        inbox: str
        activity_id: str

        def apply(self, aggregate: Any) -> None:
            aggregate.kind = RequestKind(self.kind)
            aggregate.person_id = self.person_id
            aggregate.target = self.target
            aggregate.inbox = self.inbox
            aggregate.activity_id = self.activity_id
            aggregate.status = RequestStatus.PENDING

    class SentAgain(DomainEvent):
        TOPIC = "kunveno.outgoing.sent_again"
        inbox: str
        activity_id: str

        def apply(self, aggregate: Any) -> None:
            aggregate.inbox = self.inbox
            aggregate.activity_id = self.activity_id
            aggregate.status = RequestStatus.PENDING

    class Accepted(DomainEvent):
        TOPIC = "kunveno.outgoing.accepted"

        def apply(self, aggregate: Any) -> None:
            aggregate.status = RequestStatus.ACCEPTED

    class Rejected(DomainEvent):
        TOPIC = "kunveno.outgoing.rejected"

        def apply(self, aggregate: Any) -> None:
            aggregate.status = RequestStatus.REJECTED

    class Withdrawn(DomainEvent):
        TOPIC = "kunveno.outgoing.withdrawn"

        def apply(self, aggregate: Any) -> None:
            aggregate.status = RequestStatus.WITHDRAWN

    @staticmethod
    def id_for(kind: RequestKind, person_id: UUID, target: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"outgoing {kind.value} {person_id} {target}")

    @classmethod
    def send(
        cls,
        *,
        kind: RequestKind,
        person_id: UUID,
        target: str,
        inbox: str,
        activity_id: str,
        at: datetime,
    ) -> OutgoingRequest:
        if not target.startswith(("https://", "http://")) or len(target) > 2000:
            raise InvalidValue("the target is an http(s) URL")
        return cls._start(
            cls.Sent,
            id=cls.id_for(kind, person_id, target),
            actor=Actor.person(person_id),
            at=at,
            kind=kind.value,
            person_id=person_id,
            target=target,
            inbox=inbox,
            activity_id=activity_id,
        )

    def send_again(self, *, inbox: str, activity_id: str, at: datetime) -> bool:
        """Ask again after a rejection or a withdrawal; while live, asking again is a no-op."""
        if self.status in (RequestStatus.PENDING, RequestStatus.ACCEPTED):
            return False
        self._record(
            self.SentAgain,
            actor=Actor.person(self.person_id),
            at=at,
            inbox=inbox,
            activity_id=activity_id,
        )
        return True

    def answer(self, *, accepted: bool, by: str, at: datetime) -> None:
        """The other side's Accept or Reject; repeated answers change nothing."""
        if self.status is RequestStatus.WITHDRAWN:
            return
        if accepted and self.status is RequestStatus.REJECTED:
            raise Conflict("a rejected request is not accepted afterwards")
        wanted = RequestStatus.ACCEPTED if accepted else RequestStatus.REJECTED
        if self.status is wanted:
            return
        event = self.Accepted if accepted else self.Rejected
        self._record(event, actor=Actor.remote(by), at=at)

    def withdraw(self, *, at: datetime) -> bool:
        if self.status in (RequestStatus.WITHDRAWN, RequestStatus.REJECTED):
            return False
        self._record(self.Withdrawn, actor=Actor.person(self.person_id), at=at)
        return True
