"""What peers deliver to us: the recorded inbound activity, and the registration a remote
Join makes, as given-when-then on the aggregates."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.domain import Aggregate, CanMutateAggregate
from eventsourcing.persistence import IntegrityError

from kunveno.application.log import EventLog
from kunveno.domain.inbound import InboundActivity
from kunveno.domain.pii import reveal
from kunveno.domain.registration import MAX_MESSAGE, ParticipantKind, Registration

NOW = datetime(2030, 1, 10, 9, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)
ACTOR = "https://remote.example/users/a"
INBOX = "https://remote.example/users/a/inbox"
SIGNER = "https://remote.example/users/a#main-key"
ACTIVITY = "https://remote.example/activities/1"
GATHERING = UUID(int=0x6A)
PAYLOAD: dict[str, Any] = {
    "id": ACTIVITY,
    "type": "Follow",
    "actor": ACTOR,
    "object": "https://kunveno.example/communities/menders",
    "to": ["https://kunveno.example/communities/menders"],
    "extra": {"nested": [1, 2.5, None, True]},
}


def delivered() -> InboundActivity:
    """The activity just received, its event not yet collected."""
    return InboundActivity.receive(
        activity_id=ACTIVITY,
        activity_type="Follow",
        actor_url=ACTOR,
        signer=SIGNER,
        payload=PAYLOAD,
        at=NOW,
    )


def received(history: list[CanMutateAggregate[UUID]] | None = None) -> InboundActivity:
    inbound = delivered()
    collected = inbound.collect_events()
    if history is not None:
        history.extend(collected)
    return inbound


def joined(message: str | None = "See you there") -> Registration:
    return Registration.for_remote(
        registration_id=UUID(int=0x1000),
        gathering_id=GATHERING,
        actor_url=ACTOR,
        join_activity_id=ACTIVITY,
        inbox=INBOX,
        message=message,
        at=NOW,
    )


def only_event(aggregate: Aggregate) -> object:
    [event] = aggregate.collect_events()
    return event


@pytest.fixture
def event_log() -> Iterator[EventLog]:
    log = EventLog(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    yield log
    log.close()


# -- receiving -------------------------------------------------------------------------------


def test_receiving_records_the_activity_under_an_id_derived_from_its_id() -> None:
    inbound = InboundActivity.receive(
        activity_id=ACTIVITY,
        activity_type="Follow",
        actor_url=ACTOR,
        signer=SIGNER,
        payload=PAYLOAD,
        at=NOW,
    )

    event = only_event(inbound)
    assert isinstance(event, InboundActivity.Received)
    assert (event.activity_id, event.activity_type, event.signer) == (ACTIVITY, "Follow", SIGNER)
    assert (event.actor, event.timestamp, event.payload) == (f"remote:{ACTOR}", NOW, PAYLOAD)
    assert inbound.id == InboundActivity.id_for(ACTIVITY)
    assert (inbound.activity_type, inbound.payload, inbound.refused) == ("Follow", PAYLOAD, None)


def test_the_id_depends_on_the_activity_id_only() -> None:
    assert InboundActivity.id_for(ACTIVITY) == InboundActivity.id_for(ACTIVITY)
    assert InboundActivity.id_for(ACTIVITY) != InboundActivity.id_for(ACTIVITY + "2")
    again = InboundActivity.receive(
        activity_id=ACTIVITY,
        activity_type="Undo",
        actor_url="https://other.example/users/b",
        signer="https://other.example/users/b#key",
        payload={},
        at=LATER,
    )
    assert again.id == received().id


def test_a_second_delivery_of_the_same_activity_collides_in_the_log(
    event_log: EventLog,
) -> None:
    event_log.save(delivered())

    with pytest.raises(IntegrityError):
        event_log.save(delivered())
    assert event_log.repository.get(InboundActivity.id_for(ACTIVITY)).version == 1


# -- refusing --------------------------------------------------------------------------------


def test_refusing_records_the_code_and_where_to_answer() -> None:
    inbound = received()

    inbound.refuse("not_found", "no such gathering", reply_inbox=INBOX, at=LATER)

    event = only_event(inbound)
    assert isinstance(event, InboundActivity.Refused)
    assert (event.code, event.detail, event.reply_inbox) == (
        "not_found",
        "no such gathering",
        INBOX,
    )
    assert (event.actor, event.timestamp) == ("system", LATER)
    assert inbound.refused == "not_found"


def test_a_long_detail_is_cut_to_500_characters() -> None:
    inbound = received()

    inbound.refuse("processing_failed", "d" * 700, reply_inbox=None, at=LATER)

    event = only_event(inbound)
    assert isinstance(event, InboundActivity.Refused)
    assert event.detail == "d" * 500
    assert event.reply_inbox is None


def test_refusing_again_records_nothing() -> None:
    inbound = received()
    inbound.refuse("not_found", "no such gathering", reply_inbox=INBOX, at=LATER)
    inbound.collect_events()

    inbound.refuse("conflict", "something else", reply_inbox=None, at=LATER)

    assert inbound.collect_events() == []
    assert inbound.refused == "not_found"


def test_the_recorded_events_replay_to_the_same_inbound_activity(event_log: EventLog) -> None:
    history: list[CanMutateAggregate[UUID]] = []
    inbound = received(history)
    inbound.refuse("forbidden", "members only", reply_inbox=INBOX, at=LATER)
    history.extend(inbound.collect_events())
    assert len(history) == inbound.version == 2

    event_log.save(*history)
    replayed: Aggregate = event_log.repository.get(inbound.id)

    assert replayed is not inbound
    assert type(replayed) is InboundActivity
    assert isinstance(replayed, InboundActivity)
    assert vars(replayed) == vars(inbound)
    assert (replayed.payload, replayed.refused) == (PAYLOAD, "forbidden")


# -- a remote Join's registration ------------------------------------------------------------


def test_a_remote_join_registers_the_remote_actor() -> None:
    registration = joined("See you there")

    event = only_event(registration)
    assert isinstance(event, Registration.Joined)
    assert (event.gathering_id, event.actor_url, event.join_activity_id, event.inbox) == (
        GATHERING,
        ACTOR,
        ACTIVITY,
        INBOX,
    )
    assert (reveal(event.message), event.actor) == ("See you there", f"remote:{ACTOR}")
    assert registration.kind is ParticipantKind.REMOTE
    assert registration.participant == f"remote:{ACTOR}"
    assert (registration.person_id, registration.email, registration.cancel_token_hash) == (
        None,
        None,
        None,
    )
    assert (registration.join_activity_id, registration.inbox) == (ACTIVITY, INBOX)


def test_a_long_join_message_is_cut_to_the_maximum() -> None:
    event = only_event(joined("m" * (MAX_MESSAGE + 50)))

    assert isinstance(event, Registration.Joined)
    assert reveal(event.message) == "m" * MAX_MESSAGE


@pytest.mark.parametrize("message", [None, ""], ids=["none", "empty"])
def test_a_join_without_a_message_stores_none(message: str | None) -> None:
    event = only_event(joined(message))

    assert isinstance(event, Registration.Joined)
    assert reveal(event.message) is None


def test_a_local_registration_has_no_join_activity_nor_inbox() -> None:
    registration = Registration.for_person(
        registration_id=UUID(int=1), gathering_id=GATHERING, person_id=UUID(int=2), at=NOW
    )

    assert (registration.join_activity_id, registration.inbox) == (None, None)


def test_the_recorded_join_replays_to_the_same_registration(event_log: EventLog) -> None:
    registration = joined("m" * (MAX_MESSAGE + 1))

    event_log.save(registration)
    replayed: Aggregate = event_log.repository.get(registration.id)

    assert replayed is not registration
    assert type(replayed) is Registration
    assert isinstance(replayed, Registration)
    assert vars(replayed) == vars(registration)
    assert replayed.participant == f"remote:{ACTOR}"
