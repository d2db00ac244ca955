"""A gathering (the ActivityPub ``Event``) and its seat ledger.

The gathering is the consistency boundary for seats: every registration's status change is an
event of the gathering, so optimistic concurrency on this one stream is what guarantees that
capacity is never exceeded and that the waitlist keeps its order, whatever the number of
concurrent writers. Who registered (and their optional email) lives in ``Registration``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kunveno.domain.actor import Actor
from kunveno.domain.base import CreationEvent, DomainEvent, KunvenoAggregate
from kunveno.domain.errors import (
    AlreadyRegistered,
    CapacityBelowConfirmed,
    Conflict,
    GatheringCancelled,
    GatheringOver,
    InvalidValue,
    NotFound,
    RegistrationClosed,
)
from kunveno.domain.pii import PII, subject_of

MAX_TITLE = 200
MAX_DESCRIPTION = 20_000
MAX_LOCATION = 500
MAX_URL = 2000
MAX_CAPACITY = 1_000_000
MAX_NOTICE = 2000


class JoinMode(StrEnum):
    FREE = "free"
    APPROVAL = "approval"


class GatheringStatus(StrEnum):
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"


class RegistrationStatus(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    DECLINED = "declined"
    CANCELLED = "cancelled"

    @property
    def is_active(self) -> bool:
        return self in (self.PENDING, self.CONFIRMED, self.WAITLISTED)


@dataclass(frozen=True)
class GatheringDetails:
    """What an organiser says about a gathering, checked as one value."""

    title: str
    description: str
    starts_at: datetime
    ends_at: datetime
    timezone: str
    location: str | None
    online_url: str | None
    join_mode: JoinMode
    anonymous_registration: bool

    def __post_init__(self) -> None:
        if not self.title.strip() or len(self.title) > MAX_TITLE:
            raise InvalidValue(f"a title has 1-{MAX_TITLE} characters")
        if len(self.description) > MAX_DESCRIPTION:
            raise InvalidValue(f"a description has at most {MAX_DESCRIPTION} characters")
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise InvalidValue("start and end need a UTC offset")
        if self.ends_at <= self.starts_at:
            raise InvalidValue("a gathering ends after it starts")
        _check_timezone(self.timezone)
        if self.location is not None and len(self.location) > MAX_LOCATION:
            raise InvalidValue(f"a location has at most {MAX_LOCATION} characters")
        if self.online_url is not None:
            _check_url(self.online_url)

    def as_event_attrs(self) -> dict[str, Any]:
        return {
            "title": self.title.strip(),
            "description": self.description,
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "timezone": self.timezone,
            "location": self.location,
            "online_url": self.online_url,
            "join_mode": self.join_mode.value,
            "anonymous_registration": self.anonymous_registration,
        }


def _check_timezone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: a tz database directory ("Europe") or an overlong name is no zone either.
        raise InvalidValue(f"unknown IANA timezone {name!r}") from None


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > MAX_URL:
        raise InvalidValue("an online link is an http(s) URL")


def check_capacity(capacity: int | None) -> int | None:
    if capacity is not None and not 0 <= capacity <= MAX_CAPACITY:
        raise InvalidValue(f"capacity is between 0 and {MAX_CAPACITY}, or none for unlimited")
    return capacity


class _DetailsEvent(DomainEvent):
    title: str
    description: str
    starts_at: datetime
    ends_at: datetime
    timezone: str
    location: str | None
    online_url: str | None
    join_mode: str
    anonymous_registration: bool

    def apply(self, aggregate: Any) -> None:
        aggregate.title = self.title
        aggregate.description = self.description
        aggregate.starts_at = self.starts_at
        aggregate.ends_at = self.ends_at
        aggregate.timezone = self.timezone
        aggregate.location = self.location
        aggregate.online_url = self.online_url
        aggregate.join_mode = JoinMode(self.join_mode)
        aggregate.anonymous_registration = self.anonymous_registration


class Gathering(KunvenoAggregate):
    TOPIC = "kunveno.gathering"

    community_id: UUID
    title: str
    description: str
    starts_at: datetime
    ends_at: datetime
    timezone: str
    location: str | None
    online_url: str | None
    join_mode: JoinMode
    anonymous_registration: bool
    capacity: int | None
    status: GatheringStatus
    registrations: dict[str, str]
    participants: dict[str, str]
    waitlist: list[str]
    notices: list[str]  # ids of notices sent

    class Scheduled(_DetailsEvent, CreationEvent):
        TOPIC = "kunveno.gathering.scheduled"
        community_id: UUID
        capacity: int | None

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.community_id = self.community_id
            aggregate.capacity = self.capacity
            aggregate.status = GatheringStatus.SCHEDULED
            aggregate.registrations = {}
            aggregate.participants = {}
            aggregate.waitlist = []
            aggregate.notices = []

    class DetailsChanged(_DetailsEvent):
        TOPIC = "kunveno.gathering.details_changed"

    class CapacityChanged(DomainEvent):
        TOPIC = "kunveno.gathering.capacity_changed"
        capacity: int | None

        def apply(self, aggregate: Any) -> None:
            aggregate.capacity = self.capacity

    class Cancelled(DomainEvent):
        TOPIC = "kunveno.gathering.cancelled"

        def apply(self, aggregate: Any) -> None:
            aggregate.status = GatheringStatus.CANCELLED

    class NoticeSent(DomainEvent):
        """A message from the organisers to everyone registered by name (a reminder, a
        change of room). The words are the sender's personal data, as a post's are."""

        TOPIC = "kunveno.gathering.notice_sent"
        notice_id: UUID
        text: PII

        def apply(self, aggregate: Any) -> None:
            aggregate.notices.append(str(self.notice_id))

    class RegistrationReceived(DomainEvent):
        TOPIC = "kunveno.gathering.registration_received"
        registration_id: UUID
        participant: str | None
        status: str

        def apply(self, aggregate: Any) -> None:
            key = str(self.registration_id)
            aggregate._set_status(key, RegistrationStatus(self.status))
            if self.participant is not None:
                aggregate.participants[self.participant] = key

    class RegistrationApproved(DomainEvent):
        TOPIC = "kunveno.gathering.registration_approved"
        registration_id: UUID
        status: str

        def apply(self, aggregate: Any) -> None:
            aggregate._set_status(str(self.registration_id), RegistrationStatus(self.status))

    class RegistrationPromoted(DomainEvent):
        TOPIC = "kunveno.gathering.registration_promoted"
        registration_id: UUID

        def apply(self, aggregate: Any) -> None:
            aggregate._set_status(str(self.registration_id), RegistrationStatus.CONFIRMED)

    class RegistrationDeclined(DomainEvent):
        TOPIC = "kunveno.gathering.registration_declined"
        registration_id: UUID

        def apply(self, aggregate: Any) -> None:
            aggregate._close(str(self.registration_id), RegistrationStatus.DECLINED)

    class RegistrationCancelled(DomainEvent):
        TOPIC = "kunveno.gathering.registration_cancelled"
        registration_id: UUID

        def apply(self, aggregate: Any) -> None:
            aggregate._close(str(self.registration_id), RegistrationStatus.CANCELLED)

    # -- state helpers used only by apply -------------------------------------------------

    def _set_status(self, key: str, status: RegistrationStatus) -> None:
        previous = self.registrations.get(key)
        self.registrations[key] = status.value
        if previous == RegistrationStatus.WAITLISTED.value and key in self.waitlist:
            self.waitlist.remove(key)
        if status is RegistrationStatus.WAITLISTED:
            self.waitlist.append(key)

    def _close(self, key: str, status: RegistrationStatus) -> None:
        self._set_status(key, status)
        for participant, registration in list(self.participants.items()):
            if registration == key:
                del self.participants[participant]

    # -- creation and details -------------------------------------------------------------

    @classmethod
    def schedule(
        cls,
        *,
        gathering_id: UUID,
        community_id: UUID,
        details: GatheringDetails,
        capacity: int | None,
        actor: Actor,
        at: datetime,
    ) -> Gathering:
        return cls._start(
            cls.Scheduled,
            id=gathering_id,
            actor=actor,
            at=at,
            community_id=community_id,
            capacity=check_capacity(capacity),
            **details.as_event_attrs(),
        )

    def change_details(self, details: GatheringDetails, *, actor: Actor, at: datetime) -> None:
        self._require_scheduled()
        self._record(self.DetailsChanged, actor=actor, at=at, **details.as_event_attrs())

    def cancel(self, *, actor: Actor, at: datetime) -> None:
        if self.status is GatheringStatus.CANCELLED:
            return
        self._record(self.Cancelled, actor=actor, at=at)

    def send_notice(self, notice_id: UUID, text: str, *, actor: Actor, at: datetime) -> None:
        """Tell the named participants something; sending the same notice twice is a no-op
        for the caller (the id is theirs to choose, so a retry does not send it again)."""
        text = text.strip()
        if not text or len(text) > MAX_NOTICE:
            raise InvalidValue(f"a notice has 1-{MAX_NOTICE} characters")
        if str(notice_id) in self.notices:
            return
        self._record(
            self.NoticeSent,
            actor=actor,
            at=at,
            notice_id=notice_id,
            text=PII(subject_of(actor), text),
        )

    def change_capacity(self, capacity: int | None, *, actor: Actor, at: datetime) -> None:
        self._require_scheduled()
        capacity = check_capacity(capacity)
        if capacity is not None and capacity < self.confirmed_count:
            raise CapacityBelowConfirmed(
                f"{self.confirmed_count} people are confirmed: capacity cannot go below that"
            )
        if capacity == self.capacity:
            return
        self._record(self.CapacityChanged, actor=actor, at=at, capacity=capacity)
        self._promote_waitlisted(actor=actor, at=at)

    # -- the seat ledger ------------------------------------------------------------------

    @property
    def confirmed_count(self) -> int:
        confirmed = RegistrationStatus.CONFIRMED.value
        return sum(1 for status in self.registrations.values() if status == confirmed)

    @property
    def has_free_seat(self) -> bool:
        return self.capacity is None or self.confirmed_count < self.capacity

    def status_of(self, registration_id: UUID) -> RegistrationStatus:
        try:
            return RegistrationStatus(self.registrations[str(registration_id)])
        except KeyError:
            raise NotFound("no such registration for this gathering") from None

    def register(
        self, registration_id: UUID, participant: str | None, *, actor: Actor, at: datetime
    ) -> RegistrationStatus:
        """Take a registration: confirmed, waitlisted when full, pending in approval mode.

        ``participant`` identifies a named participant (``person:ID`` or ``remote:URL``) so a
        second active registration of the same one is refused; anonymous ones pass ``None``.
        """
        self._require_scheduled()
        if at >= self.ends_at:
            raise GatheringOver("this gathering is over")
        if participant is not None and participant in self.participants:
            raise AlreadyRegistered("already registered for this gathering")
        if self.join_mode is JoinMode.APPROVAL:
            status = RegistrationStatus.PENDING
        elif self.has_free_seat:
            status = RegistrationStatus.CONFIRMED
        else:
            status = RegistrationStatus.WAITLISTED
        self._record(
            self.RegistrationReceived,
            actor=actor,
            at=at,
            registration_id=registration_id,
            participant=participant,
            status=status.value,
        )
        return status

    def approve(self, registration_id: UUID, *, actor: Actor, at: datetime) -> RegistrationStatus:
        self._require_scheduled()
        if self.status_of(registration_id) is not RegistrationStatus.PENDING:
            raise Conflict("only a pending registration can be approved")
        status = (
            RegistrationStatus.CONFIRMED if self.has_free_seat else RegistrationStatus.WAITLISTED
        )
        self._record(
            self.RegistrationApproved,
            actor=actor,
            at=at,
            registration_id=registration_id,
            status=status.value,
        )
        return status

    def decline(self, registration_id: UUID, *, actor: Actor, at: datetime) -> None:
        if not self.status_of(registration_id).is_active:
            raise RegistrationClosed("this registration is no longer active")
        was_confirmed = self.status_of(registration_id) is RegistrationStatus.CONFIRMED
        self._record(self.RegistrationDeclined, actor=actor, at=at, registration_id=registration_id)
        if was_confirmed:
            self._promote_waitlisted(actor=actor, at=at)

    def cancel_registration(self, registration_id: UUID, *, actor: Actor, at: datetime) -> None:
        """Cancel; a freed seat goes to the first in line. Cancelling twice changes nothing."""
        status = self.status_of(registration_id)
        if status is RegistrationStatus.CANCELLED:
            return
        if not status.is_active:
            raise RegistrationClosed("this registration is no longer active")
        self._record(
            self.RegistrationCancelled, actor=actor, at=at, registration_id=registration_id
        )
        if status is RegistrationStatus.CONFIRMED:
            self._promote_waitlisted(actor=actor, at=at)

    def _promote_waitlisted(self, *, actor: Actor, at: datetime) -> None:
        """Give free seats to the first in line; a cancelled gathering promotes no one."""
        while self.status is GatheringStatus.SCHEDULED and self.waitlist and self.has_free_seat:
            first = UUID(self.waitlist[0])
            self._record(self.RegistrationPromoted, actor=actor, at=at, registration_id=first)

    def _require_scheduled(self) -> None:
        if self.status is GatheringStatus.CANCELLED:
            raise GatheringCancelled("this gathering is cancelled")
