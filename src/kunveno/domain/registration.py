"""Who registered for a gathering: a local person, a remote actor, or an anonymous visitor.

Kept apart from the gathering's seat ledger so that the personal part (an optional email, a
cancel token's hash) sits in one small stream that export and erasure can address alone.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from kunveno.domain.actor import Actor
from kunveno.domain.base import CreationEvent, KunvenoAggregate
from kunveno.domain.person import check_email
from kunveno.domain.pii import PII, reveal, subject_of

MAX_MESSAGE = 2000


class ParticipantKind(StrEnum):
    PERSON = "person"
    REMOTE = "remote"
    ANONYMOUS = "anonymous"


class Registration(KunvenoAggregate):
    TOPIC = "kunveno.registration"

    gathering_id: UUID
    kind: ParticipantKind
    person_id: UUID | None
    actor_url: str | None
    email: str | None
    cancel_token_hash: str | None
    join_activity_id: str | None = None
    inbox: str | None = None

    class Submitted(CreationEvent):
        TOPIC = "kunveno.registration.submitted"
        gathering_id: UUID
        kind: str
        person_id: UUID | None
        actor_url: str | None
        email: PII | None  # an anonymous registrant's: their own subject, the registration
        cancel_token_hash: str | None

        def apply(self, aggregate: Any) -> None:
            aggregate.gathering_id = self.gathering_id
            aggregate.kind = ParticipantKind(self.kind)
            aggregate.person_id = self.person_id
            aggregate.actor_url = self.actor_url
            aggregate.email = reveal(self.email)
            aggregate.cancel_token_hash = self.cancel_token_hash

    class Joined(CreationEvent):
        """A remote actor's Join: kept with its id and inbox, to answer it with Accept/Reject."""

        TOPIC = "kunveno.registration.joined"
        gathering_id: UUID
        actor_url: str
        join_activity_id: str
        inbox: str
        message: PII | None

        def apply(self, aggregate: Any) -> None:
            aggregate.gathering_id = self.gathering_id
            aggregate.kind = ParticipantKind.REMOTE
            aggregate.person_id = None
            aggregate.actor_url = self.actor_url
            aggregate.email = None
            aggregate.cancel_token_hash = None
            aggregate.join_activity_id = self.join_activity_id
            aggregate.inbox = self.inbox

    @property
    def participant(self) -> str | None:
        """The key that makes a named participant's registration unique per gathering."""
        if self.kind is ParticipantKind.PERSON:
            return str(Actor.person(self.person_id)) if self.person_id else None
        if self.kind is ParticipantKind.REMOTE:
            return str(Actor.remote(self.actor_url)) if self.actor_url else None
        return None

    @classmethod
    def for_person(
        cls, *, registration_id: UUID, gathering_id: UUID, person_id: UUID, at: datetime
    ) -> Registration:
        return cls._start(
            cls.Submitted,
            id=registration_id,
            actor=Actor.person(person_id),
            at=at,
            gathering_id=gathering_id,
            kind=ParticipantKind.PERSON.value,
            person_id=person_id,
            actor_url=None,
            email=None,
            cancel_token_hash=None,
        )

    @classmethod
    def for_remote(
        cls,
        *,
        registration_id: UUID,
        gathering_id: UUID,
        actor_url: str,
        join_activity_id: str,
        inbox: str,
        message: str | None,
        at: datetime,
    ) -> Registration:
        return cls._start(
            cls.Joined,
            id=registration_id,
            actor=Actor.remote(actor_url),
            at=at,
            gathering_id=gathering_id,
            actor_url=actor_url,
            join_activity_id=join_activity_id,
            inbox=inbox,
            message=PII(subject_of(Actor.remote(actor_url)), (message or "")[:MAX_MESSAGE] or None),
        )

    @classmethod
    def anonymous(
        cls,
        *,
        registration_id: UUID,
        gathering_id: UUID,
        email: str | None,
        cancel_token_hash: str,
        at: datetime,
    ) -> Registration:
        return cls._start(
            cls.Submitted,
            id=registration_id,
            actor=Actor.anonymous(),
            at=at,
            gathering_id=gathering_id,
            kind=ParticipantKind.ANONYMOUS.value,
            person_id=None,
            actor_url=None,
            email=PII(registration_id, check_email(email)),
            cancel_token_hash=cancel_token_hash,
        )
