"""Agent: made with narrow scopes, controlled by admins, refused outside its grant — given the
agent's events, when a command, then the events it records (or the error it raises)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from kunveno.domain.actor import Actor
from kunveno.domain.agent import SCOPES, Agent, AgentStatus, Scope, check_scopes
from kunveno.domain.community import Community, Membership, Visibility
from kunveno.domain.errors import Conflict, InvalidValue, PermissionDenied, ScopeMissing

NOW = datetime(2030, 1, 10, 9, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)
OWNER = UUID(int=0xA1)
COMMUNITY = UUID(int=0xC1)
OTHER_COMMUNITY = UUID(int=0xC2)
AGENT = UUID(int=0xB07)
ADMIN = Actor.person(OWNER)


def made(*scopes: str) -> Agent:
    agent = Agent.create(
        agent_id=AGENT,
        community_id=COMMUNITY,
        name="Reminder",
        description="reminds",
        scopes=scopes,
        token_hash="ab" * 32,
        by=OWNER,
        at=NOW,
    )
    agent.collect_events()
    return agent


def recorded(agent: Agent) -> list[object]:
    return list(agent.collect_events())


def test_an_agent_is_made_by_a_person_with_its_scopes_in_order_each_once() -> None:
    agent = Agent.create(
        agent_id=AGENT,
        community_id=COMMUNITY,
        name="  Reminder ",
        description="",
        scopes=["posts:write", "gatherings:read", "posts:write"],
        token_hash="ab" * 32,
        by=OWNER,
        at=NOW,
    )
    [event] = recorded(agent)
    assert isinstance(event, Agent.Created)
    assert event.actor == f"person:{OWNER}"
    assert (event.owner_id, event.community_id) == (OWNER, COMMUNITY)
    assert event.scopes == ["gatherings:read", "posts:write"]
    assert agent.name == "Reminder"
    assert agent.status is AgentStatus.ACTIVE
    assert agent.actor == Actor.agent(AGENT)


@pytest.mark.parametrize(
    ("name", "scopes"),
    [("", ["posts:read"]), ("x" * 61, []), ("bell\x07", []), ("ok", ["admin:all"])],
)
def test_a_bad_name_or_an_unknown_scope_is_refused(name: str, scopes: list[str]) -> None:
    with pytest.raises(InvalidValue):
        Agent.create(
            agent_id=AGENT,
            community_id=COMMUNITY,
            name=name,
            description="",
            scopes=scopes,
            token_hash="ab" * 32,
            by=OWNER,
            at=NOW,
        )


def test_the_known_scopes_are_the_issues_list() -> None:
    assert {
        "posts:read",
        "posts:write",
        "gatherings:read",
        "gatherings:write",
        "registrations:read",
        "members:read",
        "moderation:write",
        "stream:read",
    } == SCOPES
    assert check_scopes([]) == []


def test_require_checks_status_community_and_scope_in_that_order() -> None:
    agent = made("posts:write")
    agent.require(Scope.POSTS_WRITE, COMMUNITY)
    assert agent.allows("posts:write", COMMUNITY)
    with pytest.raises(ScopeMissing) as missing:
        agent.require(Scope.POSTS_READ, COMMUNITY)
    assert missing.value.scope == "posts:read"
    with pytest.raises(PermissionDenied, match="own community"):
        agent.require(Scope.POSTS_WRITE, OTHER_COMMUNITY)
    assert not agent.allows("posts:write", OTHER_COMMUNITY)
    agent.suspend(by=ADMIN, at=LATER)
    with pytest.raises(PermissionDenied, match="suspended"):
        agent.require(Scope.POSTS_WRITE, COMMUNITY)
    assert not agent.allows("posts:write", COMMUNITY)


def test_scopes_change_only_when_they_differ() -> None:
    agent = made("posts:read", "posts:write")
    agent.change_scopes(["posts:write", "posts:read"], by=ADMIN, at=LATER)
    assert recorded(agent) == []
    agent.change_scopes(["posts:read"], by=ADMIN, at=LATER)
    [event] = recorded(agent)
    assert isinstance(event, Agent.ScopesChanged)
    assert event.scopes == ["posts:read"]
    assert agent.scopes == ["posts:read"]


def test_suspend_and_resume_are_idempotent() -> None:
    agent = made("posts:read")
    agent.suspend(by=ADMIN, at=LATER)
    agent.suspend(by=ADMIN, at=LATER)
    assert [type(e) for e in recorded(agent)] == [Agent.Suspended]
    agent.resume(by=ADMIN, at=LATER)
    agent.resume(by=ADMIN, at=LATER)
    assert [type(e) for e in recorded(agent)] == [Agent.Resumed]
    assert agent.active


def test_removal_is_final_but_refusals_are_still_recorded() -> None:
    agent = made("posts:read")
    agent.remove(by=ADMIN, at=LATER)
    agent.remove(by=ADMIN, at=LATER)
    assert [type(e) for e in recorded(agent)] == [Agent.Removed]
    for control in (agent.suspend, agent.resume):
        with pytest.raises(Conflict):
            control(by=ADMIN, at=LATER)
    with pytest.raises(Conflict):
        agent.change_scopes(["posts:read", "posts:write"], by=ADMIN, at=LATER)
    agent.refuse(
        method="GET", path="/api/v1/x", scope=None, reason="this agent is removed", at=LATER
    )
    [event] = recorded(agent)
    assert isinstance(event, Agent.AttemptRefused)
    assert event.actor == f"agent:{AGENT}"  # the agent tried it, not its admin


def test_a_refusal_is_bounded_whatever_the_request() -> None:
    agent = made()
    agent.refuse(
        method="PATCHPATCHPATCH",
        path="/" + "a" * 5000,
        scope="posts:write",
        reason="r" * 5000,
        at=NOW,
    )
    [event] = recorded(agent)
    assert isinstance(event, Agent.AttemptRefused)
    assert (len(event.method), len(event.path), len(event.reason)) == (10, 300, 300)


def test_an_agent_moderates_a_community_only_with_moderation_write() -> None:
    community = Community.found(
        community_id=COMMUNITY,
        slug="menders",
        name="Menders",
        summary="",
        visibility=Visibility.PUBLIC,
        membership=Membership.APPROVAL,
        owner_id=OWNER,
        at=NOW,
    )
    newcomer = UUID(int=0xD1)
    community.join(newcomer, at=NOW)
    community.collect_events()
    with pytest.raises(ScopeMissing):
        community.approve(newcomer, by=made("members:read"), at=LATER)
    assert community.collect_events() == []
    moderator = made("moderation:write")
    community.approve(newcomer, by=moderator, at=LATER)
    [event] = community.collect_events()
    assert isinstance(event, Community.JoinApproved)
    assert event.actor == f"agent:{AGENT}"
