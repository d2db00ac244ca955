"""Scheduling gatherings and taking registrations for them.

A registration is saved in one atomic write with the gathering's ledger event, so the seat
decision and who took the seat never diverge; a concurrent writer makes the save stale and the
command is decided again, which is how two people racing for the last seat end up with one
seat and one waitlist place.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar
from uuid import UUID, uuid4

from kunveno.application.callers import Caller, as_caller
from kunveno.application.log import CommandBus, Decision, EventLog, Outcome
from kunveno.application.ports import Clock
from kunveno.domain.actor import Actor
from kunveno.domain.community import Community, Visibility
from kunveno.domain.errors import AnonymousRegistrationNotAllowed, NotFound, PermissionDenied
from kunveno.domain.gathering import Gathering, GatheringDetails, RegistrationStatus
from kunveno.domain.registration import Registration

R = TypeVar("R")


def hash_cancel_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Registered:
    registration_id: UUID
    status: RegistrationStatus
    cancel_token: str | None = None


class GatheringService:
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

    def load(self, gathering_id: UUID) -> Gathering:
        return self._log.load(Gathering, gathering_id, "gathering")

    def community_of(self, gathering: Gathering) -> Community:
        return self._log.load(Community, gathering.community_id, "community")

    def schedule(
        self, by: UUID | Caller, slug: str, details: GatheringDetails, capacity: int | None
    ) -> Outcome[UUID]:
        gathering_id = uuid4()
        caller = as_caller(by)

        def decide() -> Decision[UUID]:
            community = self._community_for_slug(slug)
            caller.organise(community)
            gathering = Gathering.schedule(
                gathering_id=gathering_id,
                community_id=community.id,
                details=details,
                capacity=capacity,
                actor=caller.actor,
                at=self._clock.now(),
            )
            return [gathering], gathering_id

        return self._commands.run(decide)

    def change_details(
        self, by: UUID | Caller, gathering_id: UUID, details: GatheringDetails
    ) -> Outcome[None]:
        return self._organise(
            by, gathering_id, lambda g, a, now: g.change_details(details, actor=a, at=now)
        )

    def change_capacity(
        self, by: UUID | Caller, gathering_id: UUID, capacity: int | None
    ) -> Outcome[None]:
        return self._organise(
            by, gathering_id, lambda g, a, now: g.change_capacity(capacity, actor=a, at=now)
        )

    def change(
        self, by: UUID | Caller, gathering_id: UUID, details: GatheringDetails, capacity: int | None
    ) -> Outcome[None]:
        """Replace details and capacity in one save: a refused capacity changes nothing."""

        def act(g: Gathering, actor: Actor, now: datetime) -> None:
            g.change_details(details, actor=actor, at=now)
            g.change_capacity(capacity, actor=actor, at=now)

        return self._organise(by, gathering_id, act)

    def cancel(self, by: UUID | Caller, gathering_id: UUID) -> Outcome[None]:
        return self._organise(by, gathering_id, lambda g, a, now: g.cancel(actor=a, at=now))

    def send_notice(
        self, by: UUID | Caller, gathering_id: UUID, text: str, notice_id: UUID | None = None
    ) -> Outcome[UUID]:
        """A message to the gathering's named participants, from its organisers."""
        notice = notice_id or uuid4()

        def act(g: Gathering, actor: Actor, now: datetime) -> UUID:
            g.send_notice(notice, text, actor=actor, at=now)
            return notice

        return self._organise(by, gathering_id, act)

    def approve_registration(
        self, by: UUID | Caller, gathering_id: UUID, registration_id: UUID
    ) -> Outcome[RegistrationStatus]:
        return self._organise(
            by,
            gathering_id,
            lambda g, a, now: g.approve(registration_id, actor=a, at=now),
        )

    def decline_registration(
        self, by: UUID | Caller, gathering_id: UUID, registration_id: UUID
    ) -> Outcome[None]:
        return self._organise(
            by,
            gathering_id,
            lambda g, a, now: g.decline(registration_id, actor=a, at=now),
        )

    def register_person(self, person_id: UUID, gathering_id: UUID) -> Outcome[Registered]:
        registration_id = uuid4()

        def decide() -> Decision[Registered]:
            gathering = self.load(gathering_id)
            community = self.community_of(gathering)
            if community.visibility is Visibility.PRIVATE and not community.is_member(person_id):
                # Invisible to outsiders, so unknown to them (SECURITY I-9).
                raise NotFound("no such gathering")
            now = self._clock.now()
            registration = Registration.for_person(
                registration_id=registration_id,
                gathering_id=gathering_id,
                person_id=person_id,
                at=now,
            )
            status = gathering.register(
                registration_id, registration.participant, actor=Actor.person(person_id), at=now
            )
            return [registration, gathering], Registered(registration_id, status)

        return self._commands.run(decide)

    def register_anonymous(self, gathering_id: UUID, email: str | None) -> Outcome[Registered]:
        registration_id = uuid4()
        cancel_token = secrets.token_urlsafe(24)

        def decide() -> Decision[Registered]:
            gathering = self.load(gathering_id)
            community = self.community_of(gathering)
            if community.visibility is Visibility.PRIVATE:
                raise NotFound("no such gathering")  # invisible to outsiders (I-9)
            if not gathering.anonymous_registration:
                raise AnonymousRegistrationNotAllowed(
                    "this gathering does not take anonymous registrations: sign in to register"
                )
            now = self._clock.now()
            registration = Registration.anonymous(
                registration_id=registration_id,
                gathering_id=gathering_id,
                email=email,
                cancel_token_hash=hash_cancel_token(cancel_token),
                at=now,
            )
            status = gathering.register(registration_id, None, actor=Actor.anonymous(), at=now)
            return [registration, gathering], Registered(registration_id, status, cancel_token)

        return self._commands.run(decide)

    def cancel_registration(
        self, registration_id: UUID, *, person_id: UUID | None, cancel_token: str | None
    ) -> Outcome[None]:
        def decide() -> Decision[None]:
            registration = self._log.load(Registration, registration_id, "registration")
            gathering = self.load(registration.gathering_id)
            actor = self._canceller(registration, gathering, person_id, cancel_token)
            gathering.cancel_registration(registration_id, actor=actor, at=self._clock.now())
            return [gathering], None

        return self._commands.run(decide)

    def _canceller(
        self,
        registration: Registration,
        gathering: Gathering,
        person_id: UUID | None,
        cancel_token: str | None,
    ) -> Actor:
        """Who may cancel: the participant, the holder of the cancel link, an organiser."""
        if person_id is not None and (
            registration.person_id == person_id
            or self.community_of(gathering).can_organise(person_id)
        ):
            return Actor.person(person_id)
        if (
            cancel_token is not None
            and registration.cancel_token_hash is not None
            and hmac.compare_digest(registration.cancel_token_hash, hash_cancel_token(cancel_token))
        ):
            return Actor.anonymous()
        raise PermissionDenied("only the participant or an organiser cancels a registration")

    def _organise(
        self,
        by: UUID | Caller,
        gathering_id: UUID,
        act: Callable[[Gathering, Actor, datetime], R],
    ) -> Outcome[R]:
        caller = as_caller(by)

        def decide() -> Decision[R]:
            gathering = self.load(gathering_id)
            caller.organise(self.community_of(gathering))
            return [gathering], act(gathering, caller.actor, self._clock.now())

        return self._commands.run(decide)
