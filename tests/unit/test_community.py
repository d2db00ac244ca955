"""Community: membership, roles and who may do what, as given-when-then on the aggregate."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import pytest

from kunveno.domain.community import (
    MAX_NAME,
    MAX_SUMMARY,
    Community,
    JoinOutcome,
    Membership,
    Role,
    Visibility,
)
from kunveno.domain.errors import (
    Conflict,
    InvalidValue,
    LastOwnerCannotLeave,
    NotMember,
    PermissionDenied,
)

NOW = datetime(2030, 1, 10, 9, 0, tzinfo=UTC)
OWNER = UUID(int=0xA0)
ADMIN = UUID(int=0xA1)
MODERATOR = UUID(int=0xA2)
MEMBER = UUID(int=0xA3)
OTHER_MEMBER = UUID(int=0xA4)
OUTSIDER = UUID(int=0xA5)


def found(
    membership: Membership = Membership.OPEN, visibility: Visibility = Visibility.PUBLIC
) -> Community:
    community = Community.found(
        community_id=UUID(int=0xC0),
        slug="menders",
        name="Menders",
        summary="We fix things.",
        visibility=visibility,
        membership=membership,
        owner_id=OWNER,
        at=NOW,
    )
    community.collect_events()
    return community


def staffed(
    membership: Membership = Membership.OPEN, visibility: Visibility = Visibility.PUBLIC
) -> Community:
    """A community with one person of each role (and a second plain member), events collected."""
    community = found(Membership.OPEN, visibility)
    for person in (ADMIN, MODERATOR, MEMBER, OTHER_MEMBER):
        community.join(person, at=NOW)
    community.change_role(ADMIN, Role.ADMIN, by=OWNER, at=NOW)
    community.change_role(MODERATOR, Role.MODERATOR, by=OWNER, at=NOW)
    if membership is not Membership.OPEN:
        community.change_details(
            by=OWNER,
            name=community.name,
            summary=community.summary,
            visibility=visibility,
            membership=membership,
            at=NOW,
        )
    community.collect_events()
    return community


def only_event(community: Community) -> object:
    [event] = community.collect_events()
    return event


# -- founding and details --------------------------------------------------------------------


def test_founding_makes_the_founder_its_owner() -> None:
    community = Community.found(
        community_id=UUID(int=0xC0),
        slug="menders",
        name="  Menders  ",
        summary="",
        visibility=Visibility.PRIVATE,
        membership=Membership.APPROVAL,
        owner_id=OWNER,
        at=NOW,
    )

    event = only_event(community)
    assert isinstance(event, Community.Founded)
    assert (event.name, event.owner_id, event.visibility) == ("Menders", OWNER, "private")
    assert community.role_of(OWNER) is Role.OWNER


@pytest.mark.parametrize(
    ("name", "summary"),
    [("", ""), ("   ", ""), ("n" * (MAX_NAME + 1), ""), ("Menders", "s" * (MAX_SUMMARY + 1))],
    ids=["empty", "blank", "long-name", "long-summary"],
)
def test_founding_with_a_bad_name_or_summary_is_refused(name: str, summary: str) -> None:
    with pytest.raises(InvalidValue):
        Community.found(
            community_id=UUID(int=0xC0),
            slug="menders",
            name=name,
            summary=summary,
            visibility=Visibility.PUBLIC,
            membership=Membership.OPEN,
            owner_id=OWNER,
            at=NOW,
        )


def test_an_admin_changes_the_details() -> None:
    community = staffed()

    community.change_details(
        by=ADMIN,
        name="Fixers",
        summary="",
        visibility=Visibility.PRIVATE,
        membership=Membership.INVITE,
        at=NOW,
    )

    event = only_event(community)
    assert isinstance(event, Community.DetailsChanged)
    assert (community.name, community.membership) == ("Fixers", Membership.INVITE)


def test_a_moderator_may_not_change_the_details() -> None:
    community = staffed()

    with pytest.raises(PermissionDenied):
        community.change_details(
            by=MODERATOR,
            name="Fixers",
            summary="",
            visibility=Visibility.PUBLIC,
            membership=Membership.OPEN,
            at=NOW,
        )
    assert community.name == "Menders"


def test_unknown_role_label_is_refused() -> None:
    with pytest.raises(InvalidValue):
        Role.from_label("overlord")


# -- joining ---------------------------------------------------------------------------------


def test_joining_an_open_community_makes_a_member() -> None:
    community = found(Membership.OPEN)

    outcome = community.join(MEMBER, at=NOW)

    event = only_event(community)
    assert outcome is JoinOutcome.MEMBER
    assert isinstance(event, Community.MemberJoined)
    assert (event.person_id, event.actor) == (MEMBER, f"person:{MEMBER}")
    assert community.role_of(MEMBER) is Role.MEMBER


def test_joining_twice_records_nothing() -> None:
    community = found(Membership.OPEN)
    community.join(MEMBER, at=NOW)
    community.collect_events()

    assert community.join(MEMBER, at=NOW) is JoinOutcome.MEMBER
    assert community.collect_events() == []


def test_joining_an_approval_community_asks_to_join() -> None:
    community = found(Membership.APPROVAL)

    outcome = community.join(MEMBER, at=NOW)

    event = only_event(community)
    assert outcome is JoinOutcome.PENDING
    assert isinstance(event, Community.JoinRequested)
    assert community.is_pending(MEMBER)
    assert not community.is_member(MEMBER)


def test_asking_to_join_twice_records_nothing() -> None:
    community = found(Membership.APPROVAL)
    community.join(MEMBER, at=NOW)
    community.collect_events()

    assert community.join(MEMBER, at=NOW) is JoinOutcome.PENDING
    assert community.collect_events() == []


def test_a_moderator_approves_a_request() -> None:
    community = staffed(Membership.APPROVAL)
    community.join(OUTSIDER, at=NOW)
    community.collect_events()

    community.approve(OUTSIDER, by=MODERATOR, at=NOW)

    event = only_event(community)
    assert isinstance(event, Community.JoinApproved)
    assert community.role_of(OUTSIDER) is Role.MEMBER
    assert not community.is_pending(OUTSIDER)


def test_a_member_may_not_approve_a_request() -> None:
    community = staffed(Membership.APPROVAL)
    community.join(OUTSIDER, at=NOW)
    community.collect_events()

    with pytest.raises(PermissionDenied):
        community.approve(OUTSIDER, by=MEMBER, at=NOW)
    assert community.is_pending(OUTSIDER)


def test_approving_without_a_request_is_refused() -> None:
    community = staffed(Membership.APPROVAL)

    with pytest.raises(Conflict):
        community.approve(OUTSIDER, by=OWNER, at=NOW)


def test_a_moderator_rejects_a_request() -> None:
    community = staffed(Membership.APPROVAL)
    community.join(OUTSIDER, at=NOW)
    community.collect_events()

    community.reject(OUTSIDER, by=MODERATOR, at=NOW)

    event = only_event(community)
    assert isinstance(event, Community.JoinRejected)
    assert not community.is_pending(OUTSIDER)
    assert not community.is_member(OUTSIDER)


def test_invite_only_community_refuses_the_uninvited() -> None:
    community = found(Membership.INVITE)

    with pytest.raises(PermissionDenied):
        community.join(OUTSIDER, at=NOW)
    assert community.collect_events() == []


def test_invite_only_community_accepts_the_invited() -> None:
    community = found(Membership.INVITE)
    community.invite(OUTSIDER, by=OWNER, at=NOW)
    assert isinstance(only_event(community), Community.Invited)

    outcome = community.join(OUTSIDER, at=NOW)

    assert outcome is JoinOutcome.MEMBER
    assert isinstance(only_event(community), Community.MemberJoined)
    assert community.invited == []


def test_inviting_twice_records_nothing() -> None:
    community = found(Membership.INVITE)
    community.invite(OUTSIDER, by=OWNER, at=NOW)
    community.collect_events()

    community.invite(OUTSIDER, by=OWNER, at=NOW)

    assert community.collect_events() == []


def test_a_member_may_not_invite() -> None:
    community = staffed(Membership.INVITE)

    with pytest.raises(PermissionDenied):
        community.invite(OUTSIDER, by=MEMBER, at=NOW)


def test_inviting_a_member_is_refused() -> None:
    community = staffed(Membership.INVITE)

    with pytest.raises(Conflict):
        community.invite(MEMBER, by=OWNER, at=NOW)


# -- leaving and removal ---------------------------------------------------------------------


def test_a_member_leaves() -> None:
    community = staffed()

    community.leave(MEMBER, at=NOW)

    event = only_event(community)
    assert isinstance(event, Community.MemberLeft)
    assert not community.is_member(MEMBER)


def test_leaving_without_being_a_member_is_refused() -> None:
    with pytest.raises(NotMember):
        found().leave(OUTSIDER, at=NOW)


def test_the_last_owner_cannot_leave() -> None:
    community = staffed()

    with pytest.raises(LastOwnerCannotLeave):
        community.leave(OWNER, at=NOW)
    assert community.role_of(OWNER) is Role.OWNER


def test_one_of_two_owners_can_leave() -> None:
    community = staffed()
    community.change_role(ADMIN, Role.OWNER, by=OWNER, at=NOW)
    community.collect_events()

    community.leave(OWNER, at=NOW)

    assert isinstance(only_event(community), Community.MemberLeft)
    assert community.role_of(ADMIN) is Role.OWNER


def test_a_moderator_removes_a_member() -> None:
    community = staffed()

    community.remove(MEMBER, by=MODERATOR, at=NOW)

    event = only_event(community)
    assert isinstance(event, Community.MemberRemoved)
    assert (event.person_id, event.actor) == (MEMBER, f"person:{MODERATOR}")
    assert not community.is_member(MEMBER)


@pytest.mark.parametrize("target", [ADMIN, OWNER, MODERATOR], ids=["admin", "owner", "peer"])
def test_a_moderator_cannot_remove_someone_of_equal_or_higher_role(target: UUID) -> None:
    community = staffed()

    with pytest.raises(PermissionDenied):
        community.remove(target, by=MODERATOR, at=NOW)
    assert community.is_member(target)


def test_a_member_cannot_remove_another_member() -> None:
    community = staffed()

    with pytest.raises(PermissionDenied):
        community.remove(OTHER_MEMBER, by=MEMBER, at=NOW)


def test_removing_someone_who_is_no_member_is_refused() -> None:
    with pytest.raises(NotMember):
        staffed().remove(OUTSIDER, by=OWNER, at=NOW)


# -- roles -----------------------------------------------------------------------------------


def test_an_admin_makes_a_member_moderator() -> None:
    community = staffed()

    community.change_role(MEMBER, Role.MODERATOR, by=ADMIN, at=NOW)

    event = only_event(community)
    assert isinstance(event, Community.RoleChanged)
    assert (event.person_id, event.role) == (MEMBER, "moderator")
    assert community.can_organise(MEMBER)


def test_a_moderator_may_not_change_roles() -> None:
    community = staffed()

    with pytest.raises(PermissionDenied):
        community.change_role(MEMBER, Role.MODERATOR, by=MODERATOR, at=NOW)
    assert community.role_of(MEMBER) is Role.MEMBER


def test_an_admin_may_not_make_an_owner() -> None:
    community = staffed()

    with pytest.raises(PermissionDenied):
        community.change_role(MEMBER, Role.OWNER, by=ADMIN, at=NOW)
    assert community.role_of(MEMBER) is Role.MEMBER


def test_an_admin_may_not_demote_an_owner() -> None:
    community = staffed()

    with pytest.raises(PermissionDenied):
        community.change_role(OWNER, Role.MEMBER, by=ADMIN, at=NOW)


def test_an_owner_makes_another_owner() -> None:
    community = staffed()

    community.change_role(ADMIN, Role.OWNER, by=OWNER, at=NOW)

    event = only_event(community)
    assert isinstance(event, Community.RoleChanged)
    assert event.role == "owner"
    assert community.role_of(ADMIN) is Role.OWNER


def test_the_last_owner_cannot_step_down() -> None:
    community = staffed()

    with pytest.raises(LastOwnerCannotLeave):
        community.change_role(OWNER, Role.ADMIN, by=OWNER, at=NOW)
    assert community.role_of(OWNER) is Role.OWNER


def test_one_of_two_owners_can_step_down() -> None:
    community = staffed()
    community.change_role(ADMIN, Role.OWNER, by=OWNER, at=NOW)
    community.collect_events()

    community.change_role(OWNER, Role.MEMBER, by=OWNER, at=NOW)

    assert community.role_of(OWNER) is Role.MEMBER


def test_changing_to_the_same_role_records_nothing() -> None:
    community = staffed()

    community.change_role(MODERATOR, Role.MODERATOR, by=OWNER, at=NOW)

    assert community.collect_events() == []


def test_changing_the_role_of_someone_who_is_no_member_is_refused() -> None:
    with pytest.raises(NotMember):
        staffed().change_role(OUTSIDER, Role.MODERATOR, by=OWNER, at=NOW)


def test_only_moderators_and_above_organise() -> None:
    community = staffed()

    assert [community.can_organise(p) for p in (OWNER, ADMIN, MODERATOR, MEMBER, OUTSIDER)] == [
        True,
        True,
        True,
        False,
        False,
    ]
    with pytest.raises(PermissionDenied):
        community.require_organiser(MEMBER)


# -- visibility ------------------------------------------------------------------------------


def test_a_non_member_cannot_post_in_a_private_community() -> None:
    community = staffed(visibility=Visibility.PRIVATE)

    with pytest.raises(PermissionDenied):
        community.require_may_post(OUTSIDER)


def test_a_member_may_post_in_a_private_community() -> None:
    staffed(visibility=Visibility.PRIVATE).require_may_post(MEMBER)


def test_anyone_may_post_in_a_public_community() -> None:
    staffed(visibility=Visibility.PUBLIC).require_may_post(OUTSIDER)


def test_a_private_community_is_hidden_from_anonymous_visitors_and_outsiders() -> None:
    community = staffed(visibility=Visibility.PRIVATE)

    for viewer in (None, OUTSIDER):
        with pytest.raises(PermissionDenied):
            community.require_may_see(viewer)
    community.require_may_see(MEMBER)


def test_an_invitation_lets_in_someone_whose_request_is_pending() -> None:
    community = found(Membership.APPROVAL)
    assert community.join(OUTSIDER, at=NOW) is JoinOutcome.PENDING
    community.invite(OUTSIDER, by=OWNER, at=NOW)
    community.collect_events()

    outcome = community.join(OUTSIDER, at=NOW)

    assert outcome is JoinOutcome.MEMBER
    assert isinstance(only_event(community), Community.MemberJoined)
    assert (community.pending, community.invited) == ([], [])
