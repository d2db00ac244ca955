"""Follow: a remote actor's follow of one of ours, as given-when-then on the aggregate."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from eventsourcing.domain import Aggregate, CanMutateAggregate

from kunveno.application.log import EventLog
from kunveno.domain.actor import Actor
from kunveno.domain.errors import Conflict
from kunveno.domain.follow import Follow, FollowStatus

NOW = datetime(2030, 1, 10, 9, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)
FOLLOWER = "https://remote.example/users/a"
INBOX = "https://remote.example/users/a/inbox"
SHARED = "https://remote.example/inbox"
FOLLOWED = "https://kunveno.example/communities/menders"
COMMUNITY = UUID(int=0xC0)
FIRST = "https://remote.example/activities/follow-1"
SECOND = "https://remote.example/activities/follow-2"
ADMIN = Actor.person(UUID(int=0xA1))
SYSTEM = Actor.system()


def requested(history: list[CanMutateAggregate[UUID]] | None = None) -> Follow:
    """A pending follow, its creation event collected (into ``history`` when given)."""
    follow = Follow.request(
        follower=FOLLOWER,
        followed=FOLLOWED,
        followed_kind="community",
        followed_id=COMMUNITY,
        activity_id=FIRST,
        inbox=INBOX,
        shared_inbox=SHARED,
        at=NOW,
    )
    collected = follow.collect_events()
    if history is not None:
        history.extend(collected)
    return follow


def in_status(status: FollowStatus) -> Follow:
    follow = requested()
    if status is FollowStatus.ACCEPTED:
        follow.accept(actor=SYSTEM, at=NOW)
    elif status is FollowStatus.REJECTED:
        follow.reject(actor=SYSTEM, at=NOW)
    elif status is FollowStatus.ENDED:
        follow.end(actor=Actor.remote(FOLLOWER), at=NOW)
    follow.collect_events()
    assert follow.status is status
    return follow


def only_event(follow: Follow) -> object:
    [event] = follow.collect_events()
    return event


# -- requesting ------------------------------------------------------------------------------


def test_a_follow_request_is_pending_and_keeps_the_inboxes() -> None:
    follow = Follow.request(
        follower=FOLLOWER,
        followed=FOLLOWED,
        followed_kind="community",
        followed_id=COMMUNITY,
        activity_id=FIRST,
        inbox=INBOX,
        shared_inbox=SHARED,
        at=NOW,
    )

    event = only_event(follow)
    assert isinstance(event, Follow.Requested)
    assert (event.follower, event.followed, event.activity_id) == (FOLLOWER, FOLLOWED, FIRST)
    assert event.actor == f"remote:{FOLLOWER}"
    assert follow.id == Follow.id_for(FOLLOWER, FOLLOWED)
    assert follow.status is FollowStatus.PENDING
    assert (follow.inbox, follow.shared_inbox) == (INBOX, SHARED)
    assert (follow.followed_kind, follow.followed_id) == ("community", COMMUNITY)


def test_the_id_is_one_per_pair_of_follower_and_followed() -> None:
    assert Follow.id_for(FOLLOWER, FOLLOWED) == Follow.id_for(FOLLOWER, FOLLOWED)
    assert Follow.id_for(FOLLOWER, FOLLOWED) != Follow.id_for(FOLLOWED, FOLLOWER)
    assert Follow.id_for(FOLLOWER, FOLLOWED) != Follow.id_for(FOLLOWER, FOLLOWED + "x")
    assert Follow.id_for(FOLLOWER, FOLLOWED) != Follow.id_for(FOLLOWER + "x", FOLLOWED)


def test_the_same_follow_activity_again_records_nothing() -> None:
    follow = requested()

    changed = follow.request_again(activity_id=FIRST, inbox=INBOX, shared_inbox=None, at=LATER)

    assert changed is False
    assert follow.collect_events() == []
    assert follow.shared_inbox == SHARED


def test_a_new_follow_activity_while_pending_renews_the_request() -> None:
    follow = requested()
    new_inbox = "https://remote.example/users/a/inbox2"

    changed = follow.request_again(activity_id=SECOND, inbox=new_inbox, shared_inbox=None, at=LATER)

    event = only_event(follow)
    assert changed is True
    assert isinstance(event, Follow.RequestedAgain)
    assert (event.activity_id, event.actor) == (SECOND, f"remote:{FOLLOWER}")
    assert (follow.activity_id, follow.inbox, follow.shared_inbox) == (SECOND, new_inbox, None)
    assert follow.status is FollowStatus.PENDING


def test_a_new_follow_activity_of_an_accepted_follow_records_nothing() -> None:
    follow = in_status(FollowStatus.ACCEPTED)

    changed = follow.request_again(activity_id=SECOND, inbox=INBOX, shared_inbox=None, at=LATER)

    assert changed is False
    assert follow.collect_events() == []
    assert (follow.activity_id, follow.status) == (FIRST, FollowStatus.ACCEPTED)


@pytest.mark.parametrize("status", [FollowStatus.REJECTED, FollowStatus.ENDED])
def test_following_again_after_a_rejection_or_an_end_asks_again(status: FollowStatus) -> None:
    follow = in_status(status)

    changed = follow.request_again(activity_id=SECOND, inbox=INBOX, shared_inbox=SHARED, at=LATER)

    assert changed is True
    assert isinstance(only_event(follow), Follow.RequestedAgain)
    assert follow.status is FollowStatus.PENDING


@pytest.mark.parametrize("status", [FollowStatus.REJECTED, FollowStatus.ENDED])
def test_the_old_follow_activity_after_a_rejection_or_an_end_records_nothing(
    status: FollowStatus,
) -> None:
    follow = in_status(status)

    changed = follow.request_again(activity_id=FIRST, inbox=INBOX, shared_inbox=SHARED, at=LATER)

    assert changed is False
    assert follow.collect_events() == []
    assert follow.status is status


# -- accepting, rejecting, ending ------------------------------------------------------------


def test_accepting_a_pending_follow() -> None:
    follow = requested()

    follow.accept(actor=ADMIN, at=LATER)

    event = only_event(follow)
    assert isinstance(event, Follow.Accepted)
    assert (event.actor, event.timestamp) == (str(ADMIN), LATER)
    assert follow.status is FollowStatus.ACCEPTED


def test_accepting_twice_records_nothing() -> None:
    follow = in_status(FollowStatus.ACCEPTED)

    follow.accept(actor=ADMIN, at=LATER)

    assert follow.collect_events() == []


@pytest.mark.parametrize("status", [FollowStatus.REJECTED, FollowStatus.ENDED])
def test_accepting_a_rejected_or_ended_follow_is_refused(status: FollowStatus) -> None:
    follow = in_status(status)

    with pytest.raises(Conflict):
        follow.accept(actor=ADMIN, at=LATER)
    assert follow.collect_events() == []
    assert follow.status is status


@pytest.mark.parametrize("status", [FollowStatus.PENDING, FollowStatus.ACCEPTED])
def test_rejecting_a_pending_or_accepted_follow(status: FollowStatus) -> None:
    follow = in_status(status)

    follow.reject(actor=ADMIN, at=LATER)

    event = only_event(follow)
    assert isinstance(event, Follow.Rejected)
    assert event.actor == str(ADMIN)
    assert follow.status is FollowStatus.REJECTED


@pytest.mark.parametrize("status", [FollowStatus.REJECTED, FollowStatus.ENDED])
def test_rejecting_a_rejected_or_ended_follow_records_nothing(status: FollowStatus) -> None:
    follow = in_status(status)

    follow.reject(actor=ADMIN, at=LATER)

    assert follow.collect_events() == []
    assert follow.status is status


@pytest.mark.parametrize("status", [FollowStatus.PENDING, FollowStatus.ACCEPTED])
def test_the_follower_ends_a_pending_or_accepted_follow(status: FollowStatus) -> None:
    follow = in_status(status)

    follow.end(actor=Actor.remote(FOLLOWER), at=LATER)

    event = only_event(follow)
    assert isinstance(event, Follow.Ended)
    assert event.actor == f"remote:{FOLLOWER}"
    assert follow.status is FollowStatus.ENDED


@pytest.mark.parametrize("status", [FollowStatus.REJECTED, FollowStatus.ENDED])
def test_ending_a_rejected_or_ended_follow_records_nothing(status: FollowStatus) -> None:
    follow = in_status(status)

    follow.end(actor=Actor.remote(FOLLOWER), at=LATER)

    assert follow.collect_events() == []
    assert follow.status is status


# -- replay ----------------------------------------------------------------------------------


@pytest.fixture
def event_log() -> Iterator[EventLog]:
    log = EventLog(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    yield log
    log.close()


def test_the_recorded_events_replay_to_the_same_follow(event_log: EventLog) -> None:
    history: list[CanMutateAggregate[UUID]] = []
    follow = requested(history)
    follow.accept(actor=SYSTEM, at=NOW)
    follow.end(actor=Actor.remote(FOLLOWER), at=LATER)
    follow.request_again(activity_id=SECOND, inbox=INBOX, shared_inbox=None, at=LATER)
    follow.reject(actor=ADMIN, at=LATER)
    history.extend(follow.collect_events())
    assert len(history) == follow.version == 5

    event_log.save(*history)
    replayed: Aggregate = event_log.repository.get(follow.id)

    assert replayed is not follow
    assert type(replayed) is Follow
    assert isinstance(replayed, Follow)
    assert vars(replayed) == vars(follow)
    assert (replayed.status, replayed.activity_id) == (FollowStatus.REJECTED, SECOND)
