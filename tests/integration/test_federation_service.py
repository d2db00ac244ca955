"""FederationService on a real node: what remote actors do to us, given-when-then.

Given people, communities and gatherings made through the services, when a remote actor's
Follow, Undo, Join or Leave is applied, then these are its answer, the events in the log, and
the read models. No network: remote actors are only URLs here.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from eventsourcing.domain import Aggregate

from kunveno.application.federation import Followable, RemoteFollower
from kunveno.bootstrap import Container
from kunveno.domain.actor import Actor
from kunveno.domain.blocklist import BLOCKLIST_ID, Blocklist
from kunveno.domain.community import Membership, Role, Visibility
from kunveno.domain.errors import AlreadyRegistered, InvalidValue, NotFound, PermissionDenied
from kunveno.domain.follow import Follow, FollowStatus
from kunveno.domain.gathering import Gathering, GatheringDetails, JoinMode, RegistrationStatus
from kunveno.domain.inbound import InboundActivity
from kunveno.domain.registration import ParticipantKind, Registration

ALICE = RemoteFollower(
    "https://remote.example/users/a",
    "https://remote.example/users/a/inbox",
    "https://remote.example/inbox",
)
BOB = RemoteFollower(
    "https://remote.example/users/b",
    "https://remote.example/users/b/inbox",
    "https://remote.example/inbox",
)
CAROL = RemoteFollower(
    "https://elsewhere.example/carol", "https://elsewhere.example/carol/inbox", None
)
FOLLOW_1 = "https://remote.example/activities/follow-1"
FOLLOW_2 = "https://remote.example/activities/follow-2"
JOIN_1 = "https://remote.example/activities/join-1"
JOIN_2 = "https://remote.example/activities/join-2"

CONFIRMED = RegistrationStatus.CONFIRMED
WAITLISTED = RegistrationStatus.WAITLISTED
PENDING = RegistrationStatus.PENDING
CANCELLED = RegistrationStatus.CANCELLED


@dataclass(frozen=True)
class Place:
    """A community of the node, its owner, and the community as something to follow."""

    owner: UUID
    slug: str
    target: Followable

    @property
    def id(self) -> UUID:
        return self.target.id


def owner(node: Container, username: str = "olga") -> UUID:
    return node.accounts.register(username, "s3cret-pass", None, None).value


def community(
    node: Container,
    visibility: Visibility = Visibility.PUBLIC,
    membership: Membership = Membership.OPEN,
    slug: str = "menders",
) -> Place:
    person = owner(node, f"{slug}_owner")
    community_id = node.communities.found(
        person,
        slug=slug,
        name="Menders",
        summary="",
        visibility=visibility,
        membership=membership,
    ).value
    return Place(person, slug, Followable("community", community_id, node.urls.community(slug)))


def gathering(
    node: Container, place: Place, capacity: int | None, join_mode: JoinMode = JoinMode.FREE
) -> UUID:
    start = datetime.now(UTC) + timedelta(days=2)
    details = GatheringDetails(
        "Repair café", "", start, start + timedelta(hours=2), "UTC", None, None, join_mode, False
    )
    return node.gatherings.schedule(place.owner, place.slug, details, capacity).value


def head(node: Container) -> int:
    """The position of the last event in the log."""
    return node.log.recorder.max_notification_id() or 0


def topics(node: Container, aggregate_id: UUID) -> list[str]:
    return [stored.topic for stored in node.log.recorder.select_events(aggregate_id)]


def follow_of(node: Container, follower: RemoteFollower, place: Place) -> Follow:
    follow: Aggregate = node.log.repository.get(Follow.id_for(follower.actor_url, place.target.url))
    assert isinstance(follow, Follow)
    return follow


def ledger(node: Container, gathering_id: UUID) -> Gathering:
    loaded: Aggregate = node.log.repository.get(gathering_id)
    assert isinstance(loaded, Gathering)
    return loaded


def counts(node: Container, gathering_id: UUID) -> dict[str, int]:
    return dict(Counter(ledger(node, gathering_id).registrations.values()))


def registration_of(node: Container, gathering_id: UUID, actor_url: str) -> Registration:
    key = ledger(node, gathering_id).participants[str(Actor.remote(actor_url))]
    registration: Aggregate = node.log.repository.get(UUID(key))
    assert isinstance(registration, Registration)
    return registration


# -- the inbox record ------------------------------------------------------------------------


def test_an_inbound_activity_is_recorded_once(node: Container) -> None:
    payload = {"id": FOLLOW_1, "type": "Follow", "actor": ALICE.actor_url, "object": "x"}

    first = node.federation.record_inbound(
        activity_id=FOLLOW_1,
        activity_type="Follow",
        actor_url=ALICE.actor_url,
        signer=f"{ALICE.actor_url}#main-key",
        payload=payload,
    )
    before = head(node)
    again = node.federation.record_inbound(
        activity_id=FOLLOW_1,
        activity_type="Follow",
        actor_url=ALICE.actor_url,
        signer=f"{ALICE.actor_url}#main-key",
        payload={**payload, "object": "changed"},
    )

    assert (first.value, again.value) == (True, False)
    assert first.position == before > 0
    assert (again.position, head(node)) == (0, before)
    record_id = InboundActivity.id_for(FOLLOW_1)
    assert topics(node, record_id) == ["kunveno.inbound.received"]
    stored: Aggregate = node.log.repository.get(record_id)
    assert isinstance(stored, InboundActivity)
    assert (stored.payload, stored.refused) == (payload, None)


def test_refusing_an_inbound_activity_is_recorded_once(node: Container) -> None:
    node.federation.record_inbound(
        activity_id=JOIN_1,
        activity_type="Join",
        actor_url=ALICE.actor_url,
        signer=ALICE.actor_url,
        payload={"type": "Join"},
    )

    node.federation.refuse_inbound(
        JOIN_1, "not_found", "no such gathering", reply_inbox=ALICE.inbox
    )
    before = head(node)
    again = node.federation.refuse_inbound(JOIN_1, "conflict", "other")

    assert (again.position, head(node)) == (0, before)
    record_id = InboundActivity.id_for(JOIN_1)
    assert topics(node, record_id) == ["kunveno.inbound.received", "kunveno.inbound.refused"]
    stored: Aggregate = node.log.repository.get(record_id)
    assert isinstance(stored, InboundActivity)
    assert stored.refused == "not_found"


# -- follows ---------------------------------------------------------------------------------


def test_following_an_open_public_community_is_accepted_at_once(node: Container) -> None:
    place = community(node)

    outcome = node.federation.follow(ALICE, place.target, FOLLOW_1)

    assert outcome.value is FollowStatus.ACCEPTED
    follow = follow_of(node, ALICE, place)
    assert (follow.status, follow.followed_id, follow.activity_id) == (
        FollowStatus.ACCEPTED,
        place.id,
        FOLLOW_1,
    )
    assert (follow.inbox, follow.shared_inbox) == (ALICE.inbox, ALICE.shared_inbox)
    assert topics(node, follow.id) == ["kunveno.follow.requested", "kunveno.follow.accepted"]


def test_following_a_person_is_accepted_at_once(node: Container) -> None:
    person = owner(node, "ada")
    target = Followable("person", person, node.urls.person("ada"))

    outcome = node.federation.follow(ALICE, target, FOLLOW_1)

    assert outcome.value is FollowStatus.ACCEPTED
    follow: Aggregate = node.log.repository.get(Follow.id_for(ALICE.actor_url, target.url))
    assert isinstance(follow, Follow)
    assert (follow.status, follow.followed_kind, follow.followed_id) == (
        FollowStatus.ACCEPTED,
        "person",
        person,
    )


@pytest.mark.parametrize("membership", [Membership.APPROVAL, Membership.INVITE])
def test_following_a_public_community_that_chooses_its_members_waits(
    node: Container, membership: Membership
) -> None:
    place = community(node, Visibility.PUBLIC, membership)

    outcome = node.federation.follow(ALICE, place.target, FOLLOW_1)

    assert outcome.value is FollowStatus.PENDING
    assert follow_of(node, ALICE, place).status is FollowStatus.PENDING
    assert topics(node, Follow.id_for(ALICE.actor_url, place.target.url)) == [
        "kunveno.follow.requested"
    ]


@pytest.mark.parametrize("membership", list(Membership))
def test_following_a_private_community_is_rejected(node: Container, membership: Membership) -> None:
    place = community(node, Visibility.PRIVATE, membership)

    outcome = node.federation.follow(ALICE, place.target, FOLLOW_1)

    assert outcome.value is FollowStatus.REJECTED
    follow = follow_of(node, ALICE, place)
    assert follow.status is FollowStatus.REJECTED
    assert topics(node, follow.id) == ["kunveno.follow.requested", "kunveno.follow.rejected"]


@pytest.mark.parametrize(
    ("visibility", "membership", "status"),
    [
        (Visibility.PUBLIC, Membership.OPEN, FollowStatus.ACCEPTED),
        (Visibility.PUBLIC, Membership.APPROVAL, FollowStatus.PENDING),
        (Visibility.PRIVATE, Membership.OPEN, FollowStatus.REJECTED),
    ],
    ids=["accepted", "pending", "rejected"],
)
def test_the_same_follow_activity_again_changes_nothing(
    node: Container, visibility: Visibility, membership: Membership, status: FollowStatus
) -> None:
    place = community(node, visibility, membership)
    node.federation.follow(ALICE, place.target, FOLLOW_1)
    before = head(node)

    again = node.federation.follow(ALICE, place.target, FOLLOW_1)

    assert again.value is status
    assert (again.position, head(node)) == (0, before)
    assert follow_of(node, ALICE, place).status is status


def test_following_again_after_an_unfollow_is_accepted_again(node: Container) -> None:
    place = community(node)
    node.federation.follow(ALICE, place.target, FOLLOW_1)
    node.federation.unfollow(ALICE.actor_url, place.target.url)

    replayed = node.federation.follow(ALICE, place.target, FOLLOW_1)
    renewed = node.federation.follow(ALICE, place.target, FOLLOW_2)

    assert replayed.value is FollowStatus.ENDED
    assert renewed.value is FollowStatus.ACCEPTED
    follow = follow_of(node, ALICE, place)
    assert (follow.status, follow.activity_id) == (FollowStatus.ACCEPTED, FOLLOW_2)
    assert topics(node, follow.id)[-2:] == [
        "kunveno.follow.requested_again",
        "kunveno.follow.accepted",
    ]


def test_unfollowing_ends_the_follow_once(node: Container) -> None:
    place = community(node)
    node.federation.follow(ALICE, place.target, FOLLOW_1)

    first = node.federation.unfollow(ALICE.actor_url, place.target.url)
    before = head(node)
    again = node.federation.unfollow(ALICE.actor_url, place.target.url)

    assert first.value is True
    assert first.position == before
    assert (again.position, head(node)) == (0, before)
    follow = follow_of(node, ALICE, place)
    assert follow.status is FollowStatus.ENDED
    assert topics(node, follow.id)[-1] == "kunveno.follow.ended"


def test_unfollowing_what_was_never_followed_changes_nothing(node: Container) -> None:
    place = community(node)
    before = head(node)

    outcome = node.federation.unfollow(ALICE.actor_url, place.target.url)

    assert outcome.value is False
    assert (outcome.position, head(node)) == (0, before)
    assert Follow.id_for(ALICE.actor_url, place.target.url) not in node.log.repository


@pytest.mark.parametrize(("accept", "status"), [(True, "accepted"), (False, "rejected")])
def test_an_admin_decides_a_pending_follow(node: Container, accept: bool, status: str) -> None:
    place = community(node, Visibility.PUBLIC, Membership.APPROVAL)
    admin = owner(node, "adele")
    node.communities.invite(place.owner, place.slug, admin)
    node.communities.join(admin, place.slug)
    node.communities.change_role(place.owner, place.slug, admin, Role.ADMIN)
    node.federation.follow(ALICE, place.target, FOLLOW_1)

    outcome = node.federation.decide_follow(
        admin, place.id, ALICE.actor_url, place.target.url, accept=accept
    )

    assert outcome.value == status
    assert follow_of(node, ALICE, place).status == status
    assert topics(node, Follow.id_for(ALICE.actor_url, place.target.url))[-1] == (
        f"kunveno.follow.{status}"
    )


@pytest.mark.parametrize(
    "role", [Role.MODERATOR, Role.MEMBER, None], ids=["moderator", "member", "outsider"]
)
def test_only_an_admin_decides_a_follow(node: Container, role: Role | None) -> None:
    place = community(node, Visibility.PUBLIC, Membership.APPROVAL)
    person = owner(node, "mo")
    if role is not None:
        node.communities.invite(place.owner, place.slug, person)
        node.communities.join(person, place.slug)
        if role is not Role.MEMBER:
            node.communities.change_role(place.owner, place.slug, person, role)
    node.federation.follow(ALICE, place.target, FOLLOW_1)
    before = head(node)

    with pytest.raises(PermissionDenied):
        node.federation.decide_follow(
            person, place.id, ALICE.actor_url, place.target.url, accept=True
        )
    assert head(node) == before
    assert follow_of(node, ALICE, place).status is FollowStatus.PENDING


def test_deciding_a_follow_of_another_community_is_not_found(node: Container) -> None:
    asking = community(node, Visibility.PUBLIC, Membership.APPROVAL, slug="asking")
    other = community(node, Visibility.PUBLIC, Membership.OPEN, slug="other")
    node.federation.follow(ALICE, asking.target, FOLLOW_1)
    before = head(node)

    with pytest.raises(NotFound):
        node.federation.decide_follow(
            other.owner, other.id, ALICE.actor_url, asking.target.url, accept=True
        )
    with pytest.raises(NotFound):
        node.federation.decide_follow(
            asking.owner, asking.id, BOB.actor_url, asking.target.url, accept=True
        )
    assert head(node) == before
    assert follow_of(node, ALICE, asking).status is FollowStatus.PENDING


# -- the follower read models ----------------------------------------------------------------


def test_the_read_models_list_accepted_followers_and_one_inbox_per_host(
    node: Container,
) -> None:
    place = community(node)
    asking = community(node, Visibility.PUBLIC, Membership.APPROVAL, slug="asking")
    for follower in (ALICE, BOB, CAROL):
        node.federation.follow(follower, place.target, f"{follower.actor_url}/follow")
    node.federation.follow(ALICE, asking.target, FOLLOW_2)
    node.federation.unfollow(CAROL.actor_url, place.target.url)

    node.projections.catch_up()

    followers = node.queries.followers(str(place.id))
    assert [row["follower"] for row in followers] == [ALICE.actor_url, BOB.actor_url]
    assert node.queries.delivery_inboxes(str(place.id)) == ["https://remote.example/inbox"]
    assert node.queries.follower_count(str(place.id)) == 2
    assert node.queries.followers(str(asking.id)) == []
    assert [row["follower"] for row in node.queries.followers(str(asking.id), "pending")] == [
        ALICE.actor_url
    ]


def test_a_follower_without_a_shared_inbox_is_delivered_to_its_own(node: Container) -> None:
    place = community(node)
    node.federation.follow(ALICE, place.target, FOLLOW_1)
    node.federation.follow(CAROL, place.target, FOLLOW_2)

    node.projections.catch_up()

    assert node.queries.delivery_inboxes(str(place.id)) == sorted(
        ["https://remote.example/inbox", CAROL.inbox]
    )


# -- joining and leaving gatherings ----------------------------------------------------------


def test_a_remote_join_of_a_free_gathering_is_confirmed(node: Container) -> None:
    place = community(node)
    gathering_id = gathering(node, place, capacity=2)

    outcome = node.federation.join(ALICE, gathering_id, JOIN_1, "Hello")

    assert outcome.value is CONFIRMED
    assert counts(node, gathering_id) == {"confirmed": 1}
    registration = registration_of(node, gathering_id, ALICE.actor_url)
    assert registration.kind is ParticipantKind.REMOTE
    assert (registration.join_activity_id, registration.inbox) == (JOIN_1, ALICE.inbox)
    assert topics(node, registration.id) == ["kunveno.registration.joined"]
    assert topics(node, gathering_id)[-1] == "kunveno.gathering.registration_received"


def test_a_remote_join_of_a_full_gathering_is_waitlisted(node: Container) -> None:
    place = community(node)
    gathering_id = gathering(node, place, capacity=1)
    node.federation.join(BOB, gathering_id, "https://remote.example/activities/bob-join", None)

    outcome = node.federation.join(ALICE, gathering_id, JOIN_1, None)

    assert outcome.value is WAITLISTED
    assert counts(node, gathering_id) == {"confirmed": 1, "waitlisted": 1}


def test_a_remote_join_of_an_approval_gathering_is_pending(node: Container) -> None:
    place = community(node)
    gathering_id = gathering(node, place, capacity=None, join_mode=JoinMode.APPROVAL)

    outcome = node.federation.join(ALICE, gathering_id, JOIN_1, None)

    assert outcome.value is PENDING
    assert counts(node, gathering_id) == {"pending": 1}


@pytest.mark.parametrize("capacity", [1, 0], ids=["confirmed", "waitlisted"])
def test_the_same_join_again_answers_the_same_and_changes_nothing(
    node: Container, capacity: int
) -> None:
    place = community(node)
    gathering_id = gathering(node, place, capacity=capacity)
    first = node.federation.join(ALICE, gathering_id, JOIN_1, None)
    before = head(node)

    again = node.federation.join(ALICE, gathering_id, JOIN_1, None)

    assert again.value is first.value
    assert (again.position, head(node)) == (0, before)
    assert sum(counts(node, gathering_id).values()) == 1


def test_another_join_of_a_registered_actor_is_refused(node: Container) -> None:
    place = community(node)
    gathering_id = gathering(node, place, capacity=5)
    node.federation.join(ALICE, gathering_id, JOIN_1, None)
    before = head(node)

    with pytest.raises(AlreadyRegistered):
        node.federation.join(ALICE, gathering_id, JOIN_2, None)
    assert head(node) == before
    assert counts(node, gathering_id) == {"confirmed": 1}


def test_joining_a_gathering_of_a_private_community_is_not_found(node: Container) -> None:
    place = community(node, Visibility.PRIVATE, Membership.INVITE)
    gathering_id = gathering(node, place, capacity=None)
    before = head(node)

    with pytest.raises(NotFound):
        node.federation.join(ALICE, gathering_id, JOIN_1, None)
    assert head(node) == before
    assert counts(node, gathering_id) == {}


def test_joining_an_unknown_gathering_is_not_found(node: Container) -> None:
    with pytest.raises(NotFound):
        node.federation.join(ALICE, UUID(int=0x6A), JOIN_1, None)


def test_leaving_cancels_and_promotes_the_first_in_line(node: Container) -> None:
    place = community(node)
    gathering_id = gathering(node, place, capacity=1)
    node.federation.join(ALICE, gathering_id, JOIN_1, None)
    node.federation.join(BOB, gathering_id, "https://remote.example/activities/bob-join", None)
    bob = registration_of(node, gathering_id, BOB.actor_url)
    alice = registration_of(node, gathering_id, ALICE.actor_url)

    outcome = node.federation.leave(ALICE.actor_url, gathering_id)

    assert outcome.value is True
    seats = ledger(node, gathering_id)
    assert seats.status_of(alice.id) is CANCELLED
    assert seats.status_of(bob.id) is CONFIRMED
    assert str(Actor.remote(ALICE.actor_url)) not in seats.participants
    assert topics(node, gathering_id)[-2:] == [
        "kunveno.gathering.registration_cancelled",
        "kunveno.gathering.registration_promoted",
    ]


def test_leaving_without_a_registration_changes_nothing(node: Container) -> None:
    place = community(node)
    gathering_id = gathering(node, place, capacity=1)
    node.federation.join(BOB, gathering_id, JOIN_2, None)
    before = head(node)

    outcome = node.federation.leave(ALICE.actor_url, gathering_id)

    assert outcome.value is False
    assert (outcome.position, head(node)) == (0, before)
    assert counts(node, gathering_id) == {"confirmed": 1}


def test_leaving_twice_changes_nothing_the_second_time(node: Container) -> None:
    place = community(node)
    gathering_id = gathering(node, place, capacity=1)
    node.federation.join(ALICE, gathering_id, JOIN_1, None)
    node.federation.leave(ALICE.actor_url, gathering_id)
    before = head(node)

    again = node.federation.leave(ALICE.actor_url, gathering_id)

    assert again.value is False
    assert (again.position, head(node)) == (0, before)
    assert counts(node, gathering_id) == {"cancelled": 1}


def test_joining_again_with_a_new_join_after_leaving(node: Container) -> None:
    place = community(node)
    gathering_id = gathering(node, place, capacity=1)
    node.federation.join(ALICE, gathering_id, JOIN_1, None)
    node.federation.leave(ALICE.actor_url, gathering_id)

    outcome = node.federation.join(ALICE, gathering_id, JOIN_2, None)

    assert outcome.value is CONFIRMED
    assert counts(node, gathering_id) == {"cancelled": 1, "confirmed": 1}
    assert registration_of(node, gathering_id, ALICE.actor_url).join_activity_id == JOIN_2


def test_a_replayed_join_after_its_leave_changes_nothing(node: Container) -> None:
    """The inbox processor replays a page (at least once): Join, Leave, then Join again."""
    place = community(node)
    gathering_id = gathering(node, place, capacity=1)
    node.federation.join(ALICE, gathering_id, JOIN_1, None)
    node.federation.leave(ALICE.actor_url, gathering_id)
    before = head(node)

    node.federation.join(ALICE, gathering_id, JOIN_1, None)

    assert head(node) == before
    assert counts(node, gathering_id) == {"cancelled": 1}


# -- blocks ----------------------------------------------------------------------------------


def test_blocks_and_unblocks_are_recorded_once_and_read(node: Container) -> None:
    admin = Actor.person(owner(node))

    first = node.federation.block("domain", "Spam.Example", "spam", admin)
    again = node.federation.block("domain", "spam.example", "again", admin)
    actor = node.federation.block("actor", ALICE.actor_url, "", admin)
    node.projections.catch_up()
    blocked = [(row["kind"], row["value"]) for row in node.queries.blocks()]
    spam_blocked = node.blocks.is_blocked("https://www.spam.example/u")
    gone = node.federation.unblock("domain", "spam.example", admin)
    gone_again = node.federation.unblock("domain", "spam.example", admin)
    node.projections.catch_up()

    assert [o.value for o in (first, again, actor, gone, gone_again)] == [
        True,
        False,
        True,
        True,
        False,
    ]
    assert (again.position, gone_again.position) == (0, 0)
    assert blocked == [("actor", ALICE.actor_url), ("domain", "spam.example")]
    assert spam_blocked is True
    assert [(row["kind"], row["value"]) for row in node.queries.blocks()] == [
        ("actor", ALICE.actor_url)
    ]
    assert not node.blocks.is_blocked("https://www.spam.example/u")
    assert topics(node, BLOCKLIST_ID) == [
        "kunveno.blocklist.started",
        "kunveno.blocklist.blocked",
        "kunveno.blocklist.blocked",
        "kunveno.blocklist.unblocked",
    ]
    blocklist: Aggregate = node.log.repository.get(BLOCKLIST_ID)
    assert isinstance(blocklist, Blocklist)
    assert (blocklist.domains, blocklist.actors) == ([], [ALICE.actor_url])


@pytest.mark.parametrize(
    ("kind", "value"),
    [("domain", "not a domain"), ("actor", "remote.example/users/a"), ("host", "x.example")],
)
def test_a_malformed_block_is_refused_and_records_nothing(
    node: Container, kind: str, value: str
) -> None:
    before = head(node)

    with pytest.raises(InvalidValue):
        node.federation.block(kind, value, "", Actor.system())
    assert head(node) == before
    assert BLOCKLIST_ID not in node.log.repository


def test_unblocking_on_a_node_without_blocks_changes_nothing(node: Container) -> None:
    outcome = node.federation.unblock("domain", "spam.example", Actor.system())

    assert outcome.value is False
    node.projections.catch_up()
    assert node.queries.blocks() == []
