"""Gathering and its seat ledger: given a gathering, when a command runs, then these events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from kunveno.domain.actor import Actor
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
from kunveno.domain.gathering import (
    MAX_CAPACITY,
    MAX_TITLE,
    Gathering,
    GatheringDetails,
    GatheringStatus,
    JoinMode,
    RegistrationStatus,
)

NOW = datetime(2030, 1, 10, 9, 0, tzinfo=UTC)
STARTS = datetime(2030, 2, 1, 18, 0, tzinfo=UTC)
ENDS = STARTS + timedelta(hours=2)
COMMUNITY = UUID(int=0xC0)
ORGANISER = Actor.person(UUID(int=0x0A))

CONFIRMED = RegistrationStatus.CONFIRMED
WAITLISTED = RegistrationStatus.WAITLISTED
PENDING = RegistrationStatus.PENDING


def details(**overrides: Any) -> GatheringDetails:
    values: dict[str, Any] = {
        "title": "Repair café",
        "description": "Bring what is broken.",
        "starts_at": STARTS,
        "ends_at": ENDS,
        "timezone": "Europe/Amsterdam",
        "location": "Library, room 2",
        "online_url": None,
        "join_mode": JoinMode.FREE,
        "anonymous_registration": True,
    }
    values.update(overrides)
    return GatheringDetails(**values)


def gathering(capacity: int | None = 2, join_mode: JoinMode = JoinMode.FREE) -> Gathering:
    """A scheduled gathering whose creation event is already collected."""
    scheduled = Gathering.schedule(
        gathering_id=UUID(int=0x6A),
        community_id=COMMUNITY,
        details=details(join_mode=join_mode),
        capacity=capacity,
        actor=ORGANISER,
        at=NOW,
    )
    scheduled.collect_events()
    return scheduled


def rid(n: int) -> UUID:
    return UUID(int=0x1000 + n)


def person(n: int) -> str:
    return str(Actor.person(UUID(int=0x2000 + n)))


def register(g: Gathering, n: int, at: datetime = NOW) -> RegistrationStatus:
    return g.register(rid(n), person(n), actor=Actor.person(UUID(int=0x2000 + n)), at=at)


def register_many(g: Gathering, count: int) -> list[RegistrationStatus]:
    statuses = [register(g, n) for n in range(count)]
    g.collect_events()
    return statuses


def event_types(g: Gathering) -> list[type]:
    return [type(e) for e in g.collect_events()]


def promoted_ids(events: Sequence[object]) -> list[UUID]:
    return [e.registration_id for e in events if isinstance(e, Gathering.RegistrationPromoted)]


def waitlist(g: Gathering) -> list[UUID]:
    return [UUID(key) for key in g.waitlist]


# -- scheduling and details ------------------------------------------------------------------


def test_scheduling_records_the_details_with_a_stripped_title() -> None:
    g = Gathering.schedule(
        gathering_id=UUID(int=1),
        community_id=COMMUNITY,
        details=details(title="  Repair café  "),
        capacity=5,
        actor=ORGANISER,
        at=NOW,
    )

    [event] = g.collect_events()
    assert isinstance(event, Gathering.Scheduled)
    assert (event.title, event.capacity, event.community_id) == ("Repair café", 5, COMMUNITY)
    assert (event.join_mode, event.actor, event.timestamp) == ("free", str(ORGANISER), NOW)
    assert g.status is GatheringStatus.SCHEDULED
    assert g.registrations == {}


def test_end_before_start_is_refused() -> None:
    with pytest.raises(InvalidValue):
        details(ends_at=STARTS - timedelta(minutes=1))


def test_end_equal_to_start_is_refused() -> None:
    with pytest.raises(InvalidValue):
        details(ends_at=STARTS)


def test_times_without_utc_offset_are_refused() -> None:
    with pytest.raises(InvalidValue):
        details(starts_at=STARTS.replace(tzinfo=None))


def test_title_of_the_maximum_length_is_accepted() -> None:
    assert details(title="t" * MAX_TITLE).title == "t" * MAX_TITLE


def test_overlong_title_is_refused() -> None:
    with pytest.raises(InvalidValue):
        details(title="t" * (MAX_TITLE + 1))


def test_blank_title_is_refused() -> None:
    with pytest.raises(InvalidValue):
        details(title="   ")


def test_overlong_location_is_refused() -> None:
    with pytest.raises(InvalidValue):
        details(location="l" * 501)


@pytest.mark.parametrize(
    "name",
    [
        "Nowhere/Land",
        "",
        "../etc/passwd",
        "/etc/localtime",
        "Europe/",
        "Europe",  # a directory of the tz database, not a zone
        "x" * 300,  # longer than a file name may be
    ],
    ids=["unknown", "empty", "escaping", "absolute", "slash", "directory", "overlong"],
)
def test_unknown_timezone_is_refused(name: str) -> None:
    with pytest.raises(InvalidValue):
        details(timezone=name)


@pytest.mark.parametrize(
    "url",
    ["ftp://example.org/meet", "javascript:alert(1)", "http://", "example.org/meet", "mailto:a@b"],
)
def test_online_link_that_is_not_http_is_refused(url: str) -> None:
    with pytest.raises(InvalidValue):
        details(online_url=url)


def test_https_online_link_is_accepted() -> None:
    assert details(online_url="https://meet.example.org/r/1").online_url is not None


def test_negative_capacity_is_refused_when_scheduling() -> None:
    with pytest.raises(InvalidValue):
        Gathering.schedule(
            gathering_id=UUID(int=1),
            community_id=COMMUNITY,
            details=details(),
            capacity=-1,
            actor=ORGANISER,
            at=NOW,
        )


def test_changing_details_records_them() -> None:
    g = gathering()

    g.change_details(details(title="Sewing night"), actor=ORGANISER, at=NOW)

    [event] = g.collect_events()
    assert isinstance(event, Gathering.DetailsChanged)
    assert event.title == "Sewing night"
    assert g.title == "Sewing night"


# -- taking registrations --------------------------------------------------------------------


def test_registration_is_confirmed_while_a_seat_is_free() -> None:
    g = gathering(capacity=2)

    status = register(g, 1)

    [event] = g.collect_events()
    assert status is CONFIRMED
    assert isinstance(event, Gathering.RegistrationReceived)
    assert (event.registration_id, event.participant, event.status) == (
        rid(1),
        person(1),
        "confirmed",
    )


def test_registration_is_waitlisted_when_gathering_is_full() -> None:
    g = gathering(capacity=2)
    register_many(g, 2)

    status = register(g, 2)

    [event] = g.collect_events()
    assert status is WAITLISTED
    assert isinstance(event, Gathering.RegistrationReceived)
    assert event.status == "waitlisted"
    assert waitlist(g) == [rid(2)]


def test_capacity_is_never_exceeded_and_the_rest_wait_in_arrival_order() -> None:
    g = gathering(capacity=3)

    statuses = register_many(g, 8)

    assert statuses == [CONFIRMED] * 3 + [WAITLISTED] * 5
    assert g.confirmed_count == 3
    assert waitlist(g) == [rid(n) for n in range(3, 8)]


def test_gathering_without_capacity_confirms_everyone() -> None:
    g = gathering(capacity=None)

    assert register_many(g, 20) == [CONFIRMED] * 20


def test_gathering_of_zero_capacity_waitlists_everyone() -> None:
    g = gathering(capacity=0)

    assert register_many(g, 2) == [WAITLISTED] * 2


def test_registration_is_taken_until_the_gathering_ends() -> None:
    g = gathering()

    assert register(g, 1, at=ENDS - timedelta(microseconds=1)) is CONFIRMED


def test_registration_at_the_end_is_refused() -> None:
    g = gathering()

    with pytest.raises(GatheringOver):
        register(g, 1, at=ENDS)
    assert g.collect_events() == []


def test_registration_after_the_end_is_refused() -> None:
    g = gathering()

    with pytest.raises(GatheringOver):
        register(g, 1, at=ENDS + timedelta(days=1))


def test_cancelled_gathering_refuses_registration() -> None:
    g = gathering()
    g.cancel(actor=ORGANISER, at=NOW)
    g.collect_events()

    with pytest.raises(GatheringCancelled):
        register(g, 1)
    assert g.collect_events() == []


def test_same_person_twice_is_refused() -> None:
    g = gathering()
    register_many(g, 1)

    with pytest.raises(AlreadyRegistered):
        register(g, 0)
    assert g.collect_events() == []


def test_same_person_on_the_waitlist_is_refused_too() -> None:
    g = gathering(capacity=0)
    register_many(g, 1)

    with pytest.raises(AlreadyRegistered):
        g.register(rid(99), person(0), actor=Actor.person(UUID(int=0x2000)), at=NOW)


def test_same_person_may_register_again_after_cancelling() -> None:
    g = gathering()
    register_many(g, 1)
    g.cancel_registration(rid(0), actor=ORGANISER, at=NOW)

    status = g.register(rid(99), person(0), actor=ORGANISER, at=NOW)

    assert status is CONFIRMED
    assert g.participants == {person(0): str(rid(99))}


def test_anonymous_registrations_never_collide() -> None:
    g = gathering(capacity=None)

    statuses = [g.register(rid(n), None, actor=Actor.anonymous(), at=NOW) for n in range(3)]

    assert statuses == [CONFIRMED] * 3
    assert [type(e) for e in g.collect_events()] == [Gathering.RegistrationReceived] * 3
    assert g.participants == {}


def test_status_of_an_unknown_registration_is_not_found() -> None:
    with pytest.raises(NotFound):
        gathering().status_of(rid(1))


# -- cancelling and the waitlist -------------------------------------------------------------


def test_cancelling_a_confirmed_registration_promotes_the_first_in_line() -> None:
    g = gathering(capacity=1)
    register_many(g, 3)

    g.cancel_registration(rid(0), actor=ORGANISER, at=NOW)

    events = g.collect_events()
    assert [type(e) for e in events] == [
        Gathering.RegistrationCancelled,
        Gathering.RegistrationPromoted,
    ]
    assert promoted_ids(events) == [rid(1)]
    assert g.status_of(rid(1)) is CONFIRMED
    assert waitlist(g) == [rid(2)]


def test_waitlist_keeps_its_order_across_promotions() -> None:
    g = gathering(capacity=1)
    register_many(g, 4)

    g.cancel_registration(rid(0), actor=ORGANISER, at=NOW)
    g.cancel_registration(rid(1), actor=ORGANISER, at=NOW)

    assert promoted_ids(g.collect_events()) == [rid(1), rid(2)]
    assert waitlist(g) == [rid(3)]


def test_cancelling_a_waitlisted_registration_promotes_nobody_and_leaves_the_line() -> None:
    g = gathering(capacity=1)
    register_many(g, 4)

    g.cancel_registration(rid(2), actor=ORGANISER, at=NOW)

    assert event_types(g) == [Gathering.RegistrationCancelled]
    assert g.status_of(rid(2)) is RegistrationStatus.CANCELLED
    assert waitlist(g) == [rid(1), rid(3)]


def test_cancelling_twice_is_a_no_op() -> None:
    g = gathering(capacity=1)
    register_many(g, 2)
    g.cancel_registration(rid(0), actor=ORGANISER, at=NOW)
    g.collect_events()

    g.cancel_registration(rid(0), actor=ORGANISER, at=NOW)

    assert g.collect_events() == []
    assert g.status_of(rid(0)) is RegistrationStatus.CANCELLED


def test_cancelling_a_declined_registration_is_refused() -> None:
    g = gathering()
    register_many(g, 1)
    g.decline(rid(0), actor=ORGANISER, at=NOW)

    with pytest.raises(RegistrationClosed):
        g.cancel_registration(rid(0), actor=ORGANISER, at=NOW)


def test_cancelling_a_gathering_twice_is_a_no_op() -> None:
    g = gathering()
    g.cancel(actor=ORGANISER, at=NOW)
    assert event_types(g) == [Gathering.Cancelled]

    g.cancel(actor=ORGANISER, at=NOW)

    assert g.collect_events() == []
    assert g.status is GatheringStatus.CANCELLED


def test_cancelling_in_a_cancelled_gathering_promotes_nobody() -> None:
    g = gathering(capacity=1)
    register_many(g, 2)
    g.cancel(actor=ORGANISER, at=NOW)
    g.collect_events()

    g.cancel_registration(rid(0), actor=ORGANISER, at=NOW)

    assert event_types(g) == [Gathering.RegistrationCancelled]
    assert g.status_of(rid(1)) is WAITLISTED


def test_cancelled_gathering_refuses_a_capacity_change() -> None:
    g = gathering()
    g.cancel(actor=ORGANISER, at=NOW)

    with pytest.raises(GatheringCancelled):
        g.change_capacity(10, actor=ORGANISER, at=NOW)


def test_cancelled_gathering_refuses_a_details_change() -> None:
    g = gathering()
    g.cancel(actor=ORGANISER, at=NOW)

    with pytest.raises(GatheringCancelled):
        g.change_details(details(), actor=ORGANISER, at=NOW)


# -- declining -------------------------------------------------------------------------------


def test_declining_a_confirmed_registration_promotes_the_first_in_line() -> None:
    g = gathering(capacity=1)
    register_many(g, 3)

    g.decline(rid(0), actor=ORGANISER, at=NOW)

    events = g.collect_events()
    assert [type(e) for e in events] == [
        Gathering.RegistrationDeclined,
        Gathering.RegistrationPromoted,
    ]
    assert promoted_ids(events) == [rid(1)]
    assert g.status_of(rid(0)) is RegistrationStatus.DECLINED


def test_declining_a_waitlisted_registration_takes_it_out_of_the_line() -> None:
    g = gathering(capacity=1)
    register_many(g, 3)

    g.decline(rid(1), actor=ORGANISER, at=NOW)

    assert event_types(g) == [Gathering.RegistrationDeclined]
    assert waitlist(g) == [rid(2)]


def test_declining_frees_the_participant_to_register_again() -> None:
    g = gathering()
    register_many(g, 1)

    g.decline(rid(0), actor=ORGANISER, at=NOW)

    assert g.participants == {}


def test_declining_a_cancelled_registration_is_refused() -> None:
    g = gathering()
    register_many(g, 1)
    g.cancel_registration(rid(0), actor=ORGANISER, at=NOW)
    g.collect_events()

    with pytest.raises(RegistrationClosed):
        g.decline(rid(0), actor=ORGANISER, at=NOW)
    assert g.collect_events() == []


def test_declining_in_a_cancelled_gathering_promotes_nobody() -> None:
    g = gathering(capacity=1)
    register_many(g, 2)
    g.cancel(actor=ORGANISER, at=NOW)
    g.collect_events()

    g.decline(rid(0), actor=ORGANISER, at=NOW)

    assert event_types(g) == [Gathering.RegistrationDeclined]
    assert g.status_of(rid(1)) is WAITLISTED


# -- approval mode ---------------------------------------------------------------------------


def test_registration_is_pending_in_approval_mode_even_with_free_seats() -> None:
    g = gathering(capacity=5, join_mode=JoinMode.APPROVAL)

    assert register(g, 1) is PENDING
    [event] = g.collect_events()
    assert isinstance(event, Gathering.RegistrationReceived)
    assert event.status == "pending"
    assert g.confirmed_count == 0


def test_approving_a_pending_registration_confirms_it_when_a_seat_is_free() -> None:
    g = gathering(capacity=1, join_mode=JoinMode.APPROVAL)
    register_many(g, 1)

    status = g.approve(rid(0), actor=ORGANISER, at=NOW)

    [event] = g.collect_events()
    assert status is CONFIRMED
    assert isinstance(event, Gathering.RegistrationApproved)
    assert (event.registration_id, event.status) == (rid(0), "confirmed")


def test_approving_when_full_waitlists_it() -> None:
    g = gathering(capacity=1, join_mode=JoinMode.APPROVAL)
    register_many(g, 3)
    g.approve(rid(0), actor=ORGANISER, at=NOW)

    assert g.approve(rid(2), actor=ORGANISER, at=NOW) is WAITLISTED
    assert g.approve(rid(1), actor=ORGANISER, at=NOW) is WAITLISTED
    assert waitlist(g) == [rid(2), rid(1)]


def test_approved_and_waitlisted_moves_up_when_a_seat_frees() -> None:
    g = gathering(capacity=1, join_mode=JoinMode.APPROVAL)
    register_many(g, 2)
    g.approve(rid(0), actor=ORGANISER, at=NOW)
    g.approve(rid(1), actor=ORGANISER, at=NOW)
    g.collect_events()

    g.cancel_registration(rid(0), actor=ORGANISER, at=NOW)

    assert promoted_ids(g.collect_events()) == [rid(1)]


def test_approving_a_confirmed_registration_is_refused() -> None:
    g = gathering(capacity=1, join_mode=JoinMode.APPROVAL)
    register_many(g, 1)
    g.approve(rid(0), actor=ORGANISER, at=NOW)
    g.collect_events()

    with pytest.raises(Conflict):
        g.approve(rid(0), actor=ORGANISER, at=NOW)
    assert g.collect_events() == []


def test_approving_an_unknown_registration_is_not_found() -> None:
    g = gathering(join_mode=JoinMode.APPROVAL)

    with pytest.raises(NotFound):
        g.approve(rid(0), actor=ORGANISER, at=NOW)


def test_approving_in_a_cancelled_gathering_is_refused() -> None:
    g = gathering(join_mode=JoinMode.APPROVAL)
    register_many(g, 1)
    g.cancel(actor=ORGANISER, at=NOW)

    with pytest.raises(GatheringCancelled):
        g.approve(rid(0), actor=ORGANISER, at=NOW)


def test_declining_a_pending_registration_closes_it() -> None:
    g = gathering(join_mode=JoinMode.APPROVAL)
    register_many(g, 1)

    g.decline(rid(0), actor=ORGANISER, at=NOW)

    assert event_types(g) == [Gathering.RegistrationDeclined]
    assert g.status_of(rid(0)) is RegistrationStatus.DECLINED


# -- capacity --------------------------------------------------------------------------------


def test_raising_capacity_promotes_as_many_as_fit_in_order() -> None:
    g = gathering(capacity=1)
    register_many(g, 4)

    g.change_capacity(3, actor=ORGANISER, at=NOW)

    events = g.collect_events()
    assert isinstance(events[0], Gathering.CapacityChanged)
    assert events[0].capacity == 3
    assert promoted_ids(events) == [rid(1), rid(2)]
    assert waitlist(g) == [rid(3)]


def test_removing_the_capacity_limit_promotes_everyone_waiting() -> None:
    g = gathering(capacity=1)
    register_many(g, 4)

    g.change_capacity(None, actor=ORGANISER, at=NOW)

    assert promoted_ids(g.collect_events()) == [rid(1), rid(2), rid(3)]
    assert g.waitlist == []


def test_capacity_below_confirmed_is_refused() -> None:
    g = gathering(capacity=3)
    register_many(g, 2)

    with pytest.raises(CapacityBelowConfirmed):
        g.change_capacity(1, actor=ORGANISER, at=NOW)
    assert g.collect_events() == []
    assert g.capacity == 3


def test_capacity_equal_to_confirmed_is_accepted() -> None:
    g = gathering(capacity=3)
    register_many(g, 2)

    g.change_capacity(2, actor=ORGANISER, at=NOW)

    assert event_types(g) == [Gathering.CapacityChanged]
    assert g.capacity == 2
    assert register(g, 9) is WAITLISTED


def test_unchanged_capacity_records_nothing() -> None:
    g = gathering(capacity=3)

    g.change_capacity(3, actor=ORGANISER, at=NOW)

    assert g.collect_events() == []


@pytest.mark.parametrize("capacity", [-1, MAX_CAPACITY + 1])
def test_capacity_out_of_range_is_refused(capacity: int) -> None:
    g = gathering(capacity=3)

    with pytest.raises(InvalidValue):
        g.change_capacity(capacity, actor=ORGANISER, at=NOW)
    assert g.capacity == 3
