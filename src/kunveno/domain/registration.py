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

    class Submitted(CreationEvent):
        TOPIC = "kunveno.registration.submitted"
        gathering_id: UUID
        kind: str
        person_id: UUID | None
        actor_url: str | None
        email: str | None
        cancel_token_hash: str | None

        def apply(self, aggregate: Any) -> None:
            aggregate.gathering_id = self.gathering_id
            aggregate.kind = ParticipantKind(self.kind)
            aggregate.person_id = self.person_id
            aggregate.actor_url = self.actor_url
            aggregate.email = self.email
            aggregate.cancel_token_hash = self.cancel_token_hash

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
            email=check_email(email),
            cancel_token_hash=cancel_token_hash,
        )
