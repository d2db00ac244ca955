"""The seat ledger as a state machine, driven through the application services of a node.

Hypothesis registers, cancels, approves, declines and resizes two gatherings of one public
community (one free, one by approval, both taking anonymous registrations) and checks every
answer against a small model. After each step: capacity is never exceeded, the whole stored
history is first-come-first-served, the read model agrees with the aggregate and the model, and
the log holds exactly the events of the aggregates the commands created.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from kunveno.application.log import Outcome
from kunveno.bootstrap import Container, build
from kunveno.domain.community import Membership, Visibility
from kunveno.domain.errors import (
    AlreadyRegistered,
    CapacityBelowConfirmed,
    Conflict,
    GatheringCancelled,
    PermissionDenied,
    RegistrationClosed,
)
from kunveno.domain.gathering import Gathering, GatheringDetails, JoinMode
from kunveno.domain.names import NameClaim
from kunveno.settings import Settings

PENDING, CONFIRMED, WAITLISTED = "pending", "confirmed", "waitlisted"
DECLINED, CANCELLED = "declined", "cancelled"
ACTIVE = frozenset({PENDING, CONFIRMED, WAITLISTED})

USERNAMES = ("olga", "bea", "cai", "dan")
GATHERINGS = st.sampled_from([0, 1])  # 0: free, 1: approval
# Small, and unlimited only now and then, so waitlists form and promotions happen often.
CAPACITIES = st.sampled_from([0, 1, 2, 3, None])
PICKS = st.integers(min_value=0, max_value=200)


class TickingClock:
    """Each reading one second later, so every event has its own time."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        self._now += timedelta(seconds=1)
        return self._now


# -- the model -------------------------------------------------------------------------------


@dataclass
class Seat:
    registration_id: UUID
    gathering: int
    person: UUID | None
    cancel_token: str | None
    status: str = ""


@dataclass
class Ledger:
    gathering_id: UUID
    capacity: int | None
    approval: bool
    cancelled: bool = False
    seats: list[Seat] = field(default_factory=list)
    waitlist: list[UUID] = field(default_factory=list)
    version: int = 1  # events in the gathering's stream

    def confirmed(self) -> int:
        return sum(seat.status == CONFIRMED for seat in self.seats)

    def has_free_seat(self) -> bool:
        return self.capacity is None or self.confirmed() < self.capacity

    def holds(self, person: UUID) -> bool:
        return any(s.person == person and s.status in ACTIVE for s in self.seats)

    def seat(self, registration_id: UUID) -> Seat:
        return next(s for s in self.seats if s.registration_id == registration_id)

    def counts(self) -> dict[str, int]:
        return dict(Counter(seat.status for seat in self.seats))

    def record(self, seat: Seat, status: str) -> None:
        if seat.status == WAITLISTED:
            self.waitlist.remove(seat.registration_id)
        seat.status = status
        if status == WAITLISTED:
            self.waitlist.append(seat.registration_id)
        self.version += 1

    def take(self, seat: Seat) -> str:
        self.seats.append(seat)
        status = WAITLISTED
        if self.approval:
            status = PENDING
        elif self.has_free_seat():
            status = CONFIRMED
        self.record(seat, status)
        return status

    def close(self, seat: Seat, status: str) -> None:
        was = seat.status
        self.record(seat, status)
        if was == CONFIRMED and not self.cancelled:
            self.promote()

    def promote(self) -> None:
        while self.waitlist and self.has_free_seat():
            self.record(self.seat(self.waitlist[0]), CONFIRMED)


def check_history(events: Iterable[Any]) -> None:
    """Fold a gathering's stored stream: never over capacity, promotions strictly in line."""
    capacity: int | None = None
    line: list[UUID] = []
    status: dict[UUID, str] = {}
    for event in events:
        if isinstance(event, Gathering.Scheduled | Gathering.CapacityChanged):
            capacity = event.capacity
        elif isinstance(event, Gathering.RegistrationReceived | Gathering.RegistrationApproved):
            status[event.registration_id] = event.status
            if event.status == WAITLISTED:
                line.append(event.registration_id)
        elif isinstance(event, Gathering.RegistrationPromoted):
            assert line[:1] == [event.registration_id], "promoted out of turn"
            line.pop(0)
            status[event.registration_id] = CONFIRMED
        elif isinstance(event, Gathering.RegistrationDeclined | Gathering.RegistrationCancelled):
            if status[event.registration_id] == WAITLISTED:
                line.remove(event.registration_id)
            status[event.registration_id] = (
                DECLINED if isinstance(event, Gathering.RegistrationDeclined) else CANCELLED
            )
        confirmed = sum(s == CONFIRMED for s in status.values())
        assert capacity is None or confirmed <= capacity, "capacity exceeded"


def details(join_mode: JoinMode) -> GatheringDetails:
    starts = datetime(2030, 2, 1, 18, 0, tzinfo=UTC)
    return GatheringDetails(
        title=f"Repair café ({join_mode.value})",
        description="",
        starts_at=starts,
        ends_at=starts + timedelta(hours=2),
        timezone="Europe/Amsterdam",
        location=None,
        online_url=None,
        join_mode=join_mode,
        anonymous_registration=True,
    )


# -- the machine -----------------------------------------------------------------------------


class GatheringLedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.node: Container = build(
            Settings(database_url="memory://", password_time_cost=1, password_memory_kib=8),
            clock=TickingClock(datetime(2030, 1, 1, tzinfo=UTC)),
        )
        self.created: list[UUID] = []  # every aggregate a command created
        self.people = [self._sign_up(name) for name in USERNAMES]
        self.owner = self.people[0]
        community = self.node.communities.found(
            self.owner,
            slug="menders",
            name="Menders",
            summary="",
            visibility=Visibility.PUBLIC,
            membership=Membership.OPEN,
        )
        self.created += [
            community.value,
            NameClaim.id_for("community", "menders"),
            NameClaim.id_for("handle", "menders"),
        ]
        self.ledgers = [self._schedule(JoinMode.FREE), self._schedule(JoinMode.APPROVAL)]
        self.seats: list[Seat] = []

    def _sign_up(self, username: str) -> UUID:
        person_id = self.node.accounts.register(username, "s3cret-pass", None, None).value
        self.created += [
            person_id,
            NameClaim.id_for("username", username),
            NameClaim.id_for("handle", username),
        ]
        return person_id

    def _schedule(self, join_mode: JoinMode) -> Ledger:
        gathering_id = self.node.gatherings.schedule(
            self.owner, "menders", details(join_mode), 1
        ).value
        self.created.append(gathering_id)
        return Ledger(gathering_id, capacity=1, approval=join_mode is JoinMode.APPROVAL)

    def _picked(self, pick: int) -> tuple[Seat, Ledger]:
        seat = self.seats[pick % len(self.seats)]
        return seat, self.ledgers[seat.gathering]

    def teardown(self) -> None:
        self.node.close()

    # -- rules ---------------------------------------------------------------------------

    @rule(g=GATHERINGS, who=st.integers(min_value=0, max_value=len(USERNAMES) - 1))
    def register_person(self, g: int, who: int) -> None:
        ledger, person = self.ledgers[g], self.people[who]
        if ledger.cancelled or ledger.holds(person):
            error = GatheringCancelled if ledger.cancelled else AlreadyRegistered
            with pytest.raises(error):
                self.node.gatherings.register_person(person, ledger.gathering_id)
            return
        registered = self.node.gatherings.register_person(person, ledger.gathering_id).value
        seat = Seat(registered.registration_id, g, person, None)
        assert registered.status.value == ledger.take(seat)
        assert registered.cancel_token is None
        self.seats.append(seat)
        self.created.append(seat.registration_id)

    @rule(g=GATHERINGS)
    def register_anonymously(self, g: int) -> None:
        ledger = self.ledgers[g]
        if ledger.cancelled:
            with pytest.raises(GatheringCancelled):
                self.node.gatherings.register_anonymous(ledger.gathering_id, None)
            return
        registered = self.node.gatherings.register_anonymous(ledger.gathering_id, None).value
        seat = Seat(registered.registration_id, g, None, registered.cancel_token)
        assert registered.status.value == ledger.take(seat)
        assert registered.cancel_token
        self.seats.append(seat)
        self.created.append(seat.registration_id)

    @precondition(lambda self: self.seats)
    @rule(pick=PICKS, by=st.sampled_from(["participant", "organiser", "stranger"]))
    def cancel_registration(self, pick: int, by: str) -> None:
        seat, ledger = self._picked(pick)
        person, token = {
            "participant": (seat.person, seat.cancel_token),
            "organiser": (self.owner, None),
            "stranger": (next(p for p in self.people[1:] if p != seat.person), "forged"),
        }[by]

        def cancel() -> Outcome[None]:
            return self.node.gatherings.cancel_registration(
                seat.registration_id, person_id=person, cancel_token=token
            )

        if by == "stranger" or seat.status == DECLINED:
            with pytest.raises(PermissionDenied if by == "stranger" else RegistrationClosed):
                cancel()
        elif seat.status == CANCELLED:
            assert cancel().position == 0, "cancelling twice recorded something"
        else:
            assert cancel().position > 0
            ledger.close(seat, CANCELLED)

    @rule(g=GATHERINGS, capacity=CAPACITIES)
    def change_capacity(self, g: int, capacity: int | None) -> None:
        ledger = self.ledgers[g]

        def change() -> Outcome[None]:
            return self.node.gatherings.change_capacity(self.owner, ledger.gathering_id, capacity)

        if ledger.cancelled:
            with pytest.raises(GatheringCancelled):
                change()
        elif capacity is not None and capacity < ledger.confirmed():
            with pytest.raises(CapacityBelowConfirmed):
                change()
        elif capacity == ledger.capacity:
            assert change().position == 0
        else:
            assert change().position > 0
            ledger.capacity = capacity
            ledger.version += 1
            ledger.promote()

    @precondition(lambda self: self.seats)
    @rule(pick=PICKS)
    def approve(self, pick: int) -> None:
        seat, ledger = self._picked(pick)

        def approve() -> Outcome[Any]:
            return self.node.gatherings.approve_registration(
                self.owner, ledger.gathering_id, seat.registration_id
            )

        if ledger.cancelled:
            with pytest.raises(GatheringCancelled):
                approve()
        elif seat.status != PENDING:
            with pytest.raises(Conflict) as refused:
                approve()
            assert type(refused.value) is Conflict
        else:
            expected = CONFIRMED if ledger.has_free_seat() else WAITLISTED
            assert approve().value.value == expected
            ledger.record(seat, expected)

    @precondition(lambda self: self.seats)
    @rule(pick=PICKS)
    def decline(self, pick: int) -> None:
        seat, ledger = self._picked(pick)

        def decline() -> Outcome[None]:
            return self.node.gatherings.decline_registration(
                self.owner, ledger.gathering_id, seat.registration_id
            )

        if seat.status not in ACTIVE:
            with pytest.raises(RegistrationClosed):
                decline()
        else:
            assert decline().position > 0
            ledger.close(seat, DECLINED)

    @precondition(lambda self: len(self.seats) >= 8)
    @rule(g=GATHERINGS)
    def cancel_gathering(self, g: int) -> None:
        ledger = self.ledgers[g]
        outcome = self.node.gatherings.cancel(self.owner, ledger.gathering_id)
        assert (outcome.position > 0) is not ledger.cancelled
        if not ledger.cancelled:
            ledger.cancelled = True
            ledger.version += 1

    # -- invariants ----------------------------------------------------------------------

    def _stored(self, ledger: Ledger) -> Gathering:
        gathering: object = self.node.log.repository.get(ledger.gathering_id)
        assert isinstance(gathering, Gathering)
        return gathering

    @invariant()
    def capacity_is_never_exceeded(self) -> None:
        for ledger in self.ledgers:
            gathering = self._stored(ledger)
            assert gathering.capacity == ledger.capacity
            if gathering.capacity is not None:
                assert gathering.confirmed_count <= gathering.capacity

    @invariant()
    def the_ledger_matches_the_model(self) -> None:
        for ledger in self.ledgers:
            gathering = self._stored(ledger)
            assert gathering.registrations == {
                str(seat.registration_id): seat.status for seat in ledger.seats
            }
            assert [UUID(key) for key in gathering.waitlist] == ledger.waitlist
            assert gathering.version == ledger.version
            assert (gathering.status.value == "cancelled") is ledger.cancelled

    @invariant()
    def the_stored_history_is_first_come_first_served(self) -> None:
        for ledger in self.ledgers:
            check_history(self.node.log.repository.event_store.get(ledger.gathering_id))

    @invariant()
    def the_read_model_agrees_with_the_log_and_the_model(self) -> None:
        self.node.projections.catch_up()
        for ledger in self.ledgers:
            gid = str(ledger.gathering_id)
            folded = dict(Counter(self._stored(ledger).registrations.values()))
            assert self.node.queries.registration_counts(gid) == folded == ledger.counts()
            row = self.node.queries.gathering(gid)
            assert row is not None
            assert (row["registration_count"], row["waitlist_count"], row["pending_count"]) == (
                folded.get(CONFIRMED, 0),
                folded.get(WAITLISTED, 0),
                folded.get(PENDING, 0),
            )
            assert row["capacity"] == ledger.capacity

    @invariant()
    def no_event_is_lost_or_duplicated(self) -> None:
        versions = sum(self.node.log.repository.get(i).version for i in self.created)
        assert self.node.log.recorder.max_notification_id() == versions


def test_the_seat_ledger_keeps_its_rules_under_any_sequence_of_commands() -> None:
    run_state_machine_as_test(
        GatheringLedgerMachine,
        settings=settings(
            max_examples=50,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
