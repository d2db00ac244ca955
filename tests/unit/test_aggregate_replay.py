"""Replay: the events an aggregate recorded, stored and read back, rebuild the same aggregate.

Every event goes through the library's mapper and transcoder (the in-memory recorder keeps
serialised bytes), so a field that does not survive serialisation, or an ``apply`` that
depends on more than its event, shows up as a difference in state.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from eventsourcing.domain import Aggregate

from kunveno.application.log import EventLog
from kunveno.domain.actor import Actor
from kunveno.domain.community import Community, Membership, Role, Visibility
from kunveno.domain.gathering import Gathering, GatheringDetails, JoinMode
from kunveno.domain.names import NameClaim
from kunveno.domain.person import AccessToken, Person
from kunveno.domain.post import Post
from kunveno.domain.registration import Registration

T0 = datetime(2030, 1, 10, 9, 0, tzinfo=UTC)
OWNER = UUID(int=0xA0)
ORGANISER = Actor.person(OWNER)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def busy_person() -> Person:
    person = Person.register(
        person_id=OWNER,
        username="ada",
        display_name="Ada",
        email="ada@example.org",
        password_hash="h1",
        at=at(0),
    )
    person.set_password("h2", actor=ORGANISER, at=at(1))
    person.change_profile("Countess", actor=ORGANISER, at=at(2))
    return person


def busy_token() -> AccessToken:
    token = AccessToken.issue(token_id=UUID(int=7), person_id=OWNER, at=at(0), expires_at=at(60))
    token.revoke(actor=ORGANISER, at=at(1))
    return token


def busy_claim() -> NameClaim:
    return NameClaim.claim("community", "menders", UUID(int=0xC0), ORGANISER, at(0))


def busy_community() -> Community:
    community = Community.found(
        community_id=UUID(int=0xC0),
        slug="menders",
        name="Menders",
        summary="",
        visibility=Visibility.PUBLIC,
        membership=Membership.APPROVAL,
        owner_id=OWNER,
        at=at(0),
    )
    people = [UUID(int=0xB0 + n) for n in range(5)]
    for n, person in enumerate(people):
        community.join(person, at=at(n + 1))
    community.approve(people[0], by=OWNER, at=at(10))
    community.approve(people[1], by=OWNER, at=at(11))
    community.reject(people[2], by=OWNER, at=at(12))
    community.change_role(people[0], Role.ADMIN, by=OWNER, at=at(13))
    community.invite(UUID(int=0xD0), by=people[0], at=at(14))
    community.leave(people[1], at=at(15))
    return community


def busy_gathering() -> Gathering:
    details = GatheringDetails(
        title="Repair café",
        description="",
        starts_at=at(60 * 24),
        ends_at=at(60 * 26),
        timezone="Europe/Amsterdam",
        location=None,
        online_url="https://meet.example.org/r",
        join_mode=JoinMode.FREE,
        anonymous_registration=True,
    )
    gathering = Gathering.schedule(
        gathering_id=UUID(int=0x6A),
        community_id=UUID(int=0xC0),
        details=details,
        capacity=2,
        actor=ORGANISER,
        at=at(0),
    )
    ids = [UUID(int=0x1000 + n) for n in range(6)]
    for n, registration_id in enumerate(ids):
        participant = None if n % 2 else str(Actor.person(UUID(int=0x2000 + n)))
        gathering.register(registration_id, participant, actor=ORGANISER, at=at(n + 1))
    gathering.cancel_registration(ids[0], actor=ORGANISER, at=at(10))
    gathering.decline(ids[3], actor=ORGANISER, at=at(11))
    gathering.change_capacity(4, actor=ORGANISER, at=at(12))
    approval = dataclasses.replace(details, join_mode=JoinMode.APPROVAL)
    gathering.change_details(approval, actor=ORGANISER, at=at(13))
    gathering.register(UUID(int=0x1099), None, actor=ORGANISER, at=at(14))
    gathering.approve(UUID(int=0x1099), actor=ORGANISER, at=at(15))
    gathering.cancel(actor=ORGANISER, at=at(16))
    return gathering


def busy_registration() -> Registration:
    return Registration.anonymous(
        registration_id=UUID(int=0x1000),
        gathering_id=UUID(int=0x6A),
        email="guest@example.org",
        cancel_token_hash="ab" * 32,
        at=at(0),
    )


def busy_post() -> Post:
    parent = Post.publish(
        post_id=UUID(int=0x50),
        community_id=UUID(int=0xC0),
        content="Hello",
        in_reply_to=None,
        actor=ORGANISER,
        at=at(0),
    )
    reply = Post.publish(
        post_id=UUID(int=0x51),
        community_id=UUID(int=0xC0),
        content="Hi",
        in_reply_to=parent,
        actor=ORGANISER,
        at=at(1),
    )
    reply.edit("Hi there", actor=ORGANISER, at=at(2))
    reply.delete(actor=Actor.person(UUID(int=0xB0)), moderator=True, at=at(3))
    return reply


BUILDERS: dict[str, Callable[[], Aggregate]] = {
    "person": busy_person,
    "token": busy_token,
    "claim": busy_claim,
    "community": busy_community,
    "gathering": busy_gathering,
    "registration": busy_registration,
    "post": busy_post,
}


@pytest.fixture
def event_log() -> Iterator[EventLog]:
    log = EventLog(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    yield log
    log.close()


@pytest.mark.parametrize("build", BUILDERS.values(), ids=list(BUILDERS))
def test_replayed_events_rebuild_an_equal_aggregate(
    build: Callable[[], Aggregate], event_log: EventLog
) -> None:
    original = build()
    events = original.collect_events()
    assert len(events) == original.version

    event_log.save(*events)
    replayed: Aggregate = event_log.repository.get(original.id)

    assert replayed is not original
    assert type(replayed) is type(original)
    assert vars(replayed) == vars(original)


def test_the_busy_gathering_exercised_its_ledger() -> None:
    """Guard for the replay test above: its gathering went through every kind of event."""
    kinds = {type(e).__name__ for e in busy_gathering().collect_events()}

    assert kinds == {
        "Scheduled",
        "RegistrationReceived",
        "RegistrationCancelled",
        "RegistrationDeclined",
        "RegistrationPromoted",
        "RegistrationApproved",
        "CapacityChanged",
        "DetailsChanged",
        "Cancelled",
    }


@pytest.mark.parametrize("build", BUILDERS.values(), ids=list(BUILDERS))
def test_stored_topics_are_explicit_names_not_module_paths(
    build: Callable[[], Aggregate], event_log: EventLog
) -> None:
    original = build()
    event_log.save(original)

    topics = [stored.topic for stored in event_log.recorder.select_events(original.id)]

    assert topics
    assert all(topic.startswith("kunveno.") and ":" not in topic for topic in topics), topics
