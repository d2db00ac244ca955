"""Agents through the client API: making them, the scope matrix, control, and refusals.

Every endpoint an agent may use is tried with an agent holding each scope alone: it works
with the scope it needs and is refused (403, recorded in the agent's trail) with any other.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
import pytest
from api_helpers import (
    Headers,
    Json,
    assert_error,
    found,
    gathering_body,
    join,
    register,
    schedule,
    serve,
    sign_up,
)

from conftest import test_settings as settings_for
from kunveno.bootstrap import build
from kunveno.domain.agent import SCOPES, Agent

ALL = sorted(SCOPES)


def make_agent(
    api: httpx.Client, admin: Headers, slug: str, *scopes: str, name: str = "Helper"
) -> tuple[Json, Headers]:
    answer = api.post(
        f"/api/v1/communities/{slug}/agents",
        json={"name": name, "description": "helps", "scopes": list(scopes)},
        headers=admin,
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["token"].startswith("kva_")
    assert body["agent"]["scopes"] == sorted(scopes)
    return body["agent"], {"Authorization": f"Bearer {body['token']}"}


def refusals(node: Any, agent_id: str) -> list[Agent.AttemptRefused]:
    events = node.log.events.get(UUID(agent_id))
    return [e for e in events if isinstance(e, Agent.AttemptRefused)]


@dataclass
class World:
    api: httpx.Client
    node: Any
    admin: Headers
    member: Headers
    member_id: str
    slug: str
    gathering_id: str


@pytest.fixture
def world(database_url: str) -> Iterator[World]:
    node = build(settings_for(database_url))
    try:
        with serve(node) as api:
            admin = sign_up(api, "ada")
            found(api, admin, "menders", membership="approval")
            member = sign_up(api, "bea")
            assert join(api, "menders", member) == "pending"
            member_id = api.get("/api/v1/me", headers=member).json()["id"]
            approved = api.post(
                f"/api/v1/communities/menders/join-requests/{member_id}/approve", headers=admin
            )
            assert approved.status_code == 204, approved.text
            gathering = schedule(api, admin, "menders")
            yield World(api, node, admin, member, member_id, "menders", gathering["id"])
    finally:
        node.close()


# -- the matrix -------------------------------------------------------------------------------

Call = Callable[[World, Headers], httpx.Response]


def _post_of(w: World, headers: Headers) -> str:
    answer = w.api.post(
        f"/api/v1/communities/{w.slug}/posts", json={"content": "hi"}, headers=headers
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


_newcomers = itertools.count()


def _pending(w: World) -> str:
    newcomer = sign_up(w.api, f"newcomer{next(_newcomers)}")
    assert join(w.api, w.slug, newcomer) == "pending"
    return str(w.api.get("/api/v1/me", headers=newcomer).json()["id"])


ENDPOINTS: dict[str, tuple[str, Call]] = {
    "read posts": (
        "posts:read",
        lambda w, h: w.api.get(f"/api/v1/communities/{w.slug}/posts", headers=h),
    ),
    "publish": (
        "posts:write",
        lambda w, h: w.api.post(
            f"/api/v1/communities/{w.slug}/posts", json={"content": "hello"}, headers=h
        ),
    ),
    "delete another's post": (
        "moderation:write",
        lambda w, h: w.api.delete(f"/api/v1/posts/{_post_of(w, w.member)}", headers=h),
    ),
    "list gatherings": (
        "gatherings:read",
        lambda w, h: w.api.get(f"/api/v1/communities/{w.slug}/gatherings", headers=h),
    ),
    "one gathering": (
        "gatherings:read",
        lambda w, h: w.api.get(f"/api/v1/gatherings/{w.gathering_id}", headers=h),
    ),
    "schedule": (
        "gatherings:write",
        lambda w, h: w.api.post(
            f"/api/v1/communities/{w.slug}/gatherings", json=gathering_body(), headers=h
        ),
    ),
    "change a gathering": (
        "gatherings:write",
        lambda w, h: w.api.put(
            f"/api/v1/gatherings/{w.gathering_id}",
            json=gathering_body(capacity=5, title="Moved"),
            headers=h,
        ),
    ),
    "send a notice": (
        "gatherings:write",
        lambda w, h: w.api.post(
            f"/api/v1/gatherings/{w.gathering_id}/notices", json={"text": "Room 3"}, headers=h
        ),
    ),
    "participants": (
        "registrations:read",
        lambda w, h: w.api.get(f"/api/v1/gatherings/{w.gathering_id}/registrations", headers=h),
    ),
    "members": (
        "members:read",
        lambda w, h: w.api.get(f"/api/v1/communities/{w.slug}/members", headers=h),
    ),
    "join requests": (
        "members:read",
        lambda w, h: w.api.get(f"/api/v1/communities/{w.slug}/join-requests", headers=h),
    ),
    "approve a request": (
        "moderation:write",
        lambda w, h: w.api.post(
            f"/api/v1/communities/{w.slug}/join-requests/{_pending(w)}/approve", headers=h
        ),
    ),
}

# Whatever its scopes, an agent never does these.
NEVER: dict[str, Call] = {
    "make an agent": lambda w, h: w.api.post(
        f"/api/v1/communities/{w.slug}/agents", json={"name": "x", "scopes": ALL}, headers=h
    ),
    "change a role": lambda w, h: w.api.patch(
        f"/api/v1/communities/{w.slug}/members/{w.member_id}", json={"role": "admin"}, headers=h
    ),
    "read a person's account": lambda w, h: w.api.get("/api/v1/me", headers=h),
    "export": lambda w, h: w.api.get("/api/v1/me/export", headers=h),
    "erase an account": lambda w, h: w.api.delete("/api/v1/me", headers=h),
    "found a community": lambda w, h: w.api.post(
        "/api/v1/communities",
        json={"slug": "agents-club", "name": "A", "visibility": "public", "membership": "open"},
        headers=h,
    ),
    "join a community": lambda w, h: w.api.post(f"/api/v1/communities/{w.slug}/members", headers=h),
    "register for a gathering": lambda w, h: w.api.post(
        f"/api/v1/gatherings/{w.gathering_id}/registrations", headers=h
    ),
    "list agents": lambda w, h: w.api.get(f"/api/v1/communities/{w.slug}/agents", headers=h),
}


def test_each_scope_opens_its_endpoints_and_no_other(world: World) -> None:
    agents = {
        scope: make_agent(world.api, world.admin, world.slug, scope, name=scope) for scope in ALL
    }
    for label, (needed, call) in ENDPOINTS.items():
        for scope, (agent, headers) in agents.items():
            before = len(refusals(world.node, agent["id"]))
            answer = call(world, headers)
            if scope == needed:
                assert answer.status_code < 300, (label, scope, answer.text)
                assert len(refusals(world.node, agent["id"])) == before
            else:
                assert answer.status_code == 403, (label, scope, answer.text)
                assert answer.json()["error"] in ("scope_missing", "forbidden")
                refused = refusals(world.node, agent["id"])
                assert len(refused) == before + 1, (label, scope)
                assert refused[-1].path.startswith("/api/v1/")
                assert refused[-1].scope == needed


def test_no_scope_lets_an_agent_do_what_only_people_do(world: World) -> None:
    agent, headers = make_agent(world.api, world.admin, world.slug, *ALL)
    head = world.node.projections.head()
    for label, call in NEVER.items():
        answer = call(world, headers)
        assert_error(answer, 403, "forbidden")
        assert "agent" in answer.json()["detail"], label
    # Nothing but the refusals themselves was stored.
    assert len(refusals(world.node, agent["id"])) == len(NEVER)
    assert world.node.projections.head() == head + len(NEVER)


def test_what_an_agent_does_is_labelled_and_recorded_as_the_agents(world: World) -> None:
    agent, headers = make_agent(
        world.api, world.admin, world.slug, "posts:write", "gatherings:write", name="Reminder"
    )
    post = world.api.post(
        f"/api/v1/communities/{world.slug}/posts", json={"content": "Tomorrow!"}, headers=headers
    )
    assert post.status_code == 201, post.text
    assert post.json()["author"] == f"agent:{agent['id']}"
    assert post.json()["by_agent"] == {
        "id": agent["id"],
        "name": "Reminder",
        "label": "by agent Reminder",
    }
    # Seen by people the same way.
    seen = world.api.get(f"/api/v1/communities/{world.slug}/posts", headers=world.member).json()
    assert seen[0]["by_agent"]["label"] == "by agent Reminder"
    made = world.api.post(
        f"/api/v1/communities/{world.slug}/gatherings", json=gathering_body(), headers=headers
    )
    assert made.status_code == 201, made.text
    assert made.json()["by_agent"]["name"] == "Reminder"
    # A person's own post carries no agent label.
    mine = world.api.post(
        f"/api/v1/communities/{world.slug}/posts", json={"content": "me"}, headers=world.member
    )
    assert mine.json()["by_agent"] is None
    # In the log, the agent is the actor.
    events = world.node.log.events.get(UUID(post.json()["id"]))
    assert [e.actor for e in events] == [f"agent:{agent['id']}"]


def test_an_agent_sees_named_participants_only(world: World) -> None:
    _, headers = make_agent(world.api, world.admin, world.slug, "registrations:read")
    register(world.api, world.gathering_id, world.member)
    register(world.api, world.gathering_id, email="anon@example.org")
    seen = world.api.get(f"/api/v1/gatherings/{world.gathering_id}/registrations", headers=headers)
    assert seen.status_code == 200, seen.text
    body = seen.json()
    assert [p["username"] for p in body["participants"]] == ["bea"]
    assert body["anonymous_count"] is None
    assert "anon@example.org" not in seen.text
    organiser = world.api.get(
        f"/api/v1/gatherings/{world.gathering_id}/registrations", headers=world.admin
    )
    assert organiser.json()["anonymous_count"] == 1


def test_an_agent_acts_in_its_own_community_only(world: World) -> None:
    found(world.api, world.admin, "knitters")
    agent, headers = make_agent(world.api, world.admin, world.slug, *ALL)
    other = world.api.post(
        "/api/v1/communities/knitters/posts", json={"content": "x"}, headers=headers
    )
    assert_error(other, 403, "forbidden")
    assert "own community" in other.json()["detail"]
    read = world.api.get("/api/v1/communities/knitters/posts", headers=headers)
    assert_error(read, 403, "forbidden")
    assert len(refusals(world.node, agent["id"])) == 2


def test_suspend_resume_restrict_and_remove_take_effect_on_the_next_request(world: World) -> None:
    agent, headers = make_agent(world.api, world.admin, world.slug, "posts:read", "posts:write")
    timeline = f"/api/v1/communities/{world.slug}/posts"
    assert world.api.get(timeline, headers=headers).status_code == 200

    suspended = world.api.post(f"/api/v1/agents/{agent['id']}/suspend", headers=world.admin)
    assert suspended.json()["status"] == "suspended"
    refused = world.api.get(timeline, headers=headers)
    assert_error(refused, 403, "forbidden")
    assert "suspended" in refused.json()["detail"]

    assert (
        world.api.post(f"/api/v1/agents/{agent['id']}/resume", headers=world.admin).json()["status"]
        == "active"
    )
    assert world.api.get(timeline, headers=headers).status_code == 200

    narrowed = world.api.patch(
        f"/api/v1/agents/{agent['id']}", json={"scopes": ["posts:read"]}, headers=world.admin
    )
    assert narrowed.json()["scopes"] == ["posts:read"]
    assert_error(
        world.api.post(timeline, json={"content": "x"}, headers=headers), 403, "scope_missing"
    )

    assert world.api.delete(f"/api/v1/agents/{agent['id']}", headers=world.admin).status_code == 204
    gone = world.api.get(timeline, headers=headers)
    assert_error(gone, 403, "forbidden")
    assert "removed" in gone.json()["detail"]
    # Removed is final; its history stays.
    assert_error(
        world.api.post(f"/api/v1/agents/{agent['id']}/resume", headers=world.admin), 409, "conflict"
    )
    assert (
        world.api.get(f"/api/v1/agents/{agent['id']}", headers=world.admin).json()["status"]
        == "removed"
    )
    assert len(refusals(world.node, agent["id"])) == 3
    listed = world.api.get(f"/api/v1/communities/{world.slug}/agents", headers=world.admin).json()
    assert agent["id"] not in [a["id"] for a in listed]


def test_only_admins_make_and_control_agents(world: World) -> None:
    refused = world.api.post(
        f"/api/v1/communities/{world.slug}/agents",
        json={"name": "x", "scopes": ["posts:read"]},
        headers=world.member,
    )
    assert_error(refused, 403, "forbidden")
    agent, _ = make_agent(world.api, world.admin, world.slug, "posts:read")
    for path in (f"/api/v1/agents/{agent['id']}/suspend", f"/api/v1/agents/{agent['id']}/resume"):
        assert_error(world.api.post(path, headers=world.member), 403, "forbidden")
    assert_error(
        world.api.patch(
            f"/api/v1/agents/{agent['id']}", json={"scopes": ALL}, headers=world.member
        ),
        403,
        "forbidden",
    )
    assert_error(
        world.api.delete(f"/api/v1/agents/{agent['id']}", headers=world.member), 403, "forbidden"
    )
    assert_error(
        world.api.get(f"/api/v1/agents/{agent['id']}", headers=world.member), 403, "forbidden"
    )
    assert_error(
        world.api.get("/api/v1/agents/00000000-0000-0000-0000-000000000000", headers=world.admin),
        404,
        "not_found",
    )


def test_bad_agent_requests_are_refused_clearly(world: World) -> None:
    path = f"/api/v1/communities/{world.slug}/agents"
    head = world.node.projections.head()
    assert_error(
        world.api.post(
            path, json={"name": "x", "scopes": ["posts:everything"]}, headers=world.admin
        ),
        422,
        "invalid_value",
    )
    assert_error(
        world.api.post(path, json={"name": "  ", "scopes": []}, headers=world.admin),
        422,
        "invalid_value",
    )
    assert_error(
        world.api.post(path, json={"scopes": []}, headers=world.admin), 422, "invalid_request"
    )
    assert_error(
        world.api.post(
            path, json={"name": "x", "scopes": ["posts:read"] * 21}, headers=world.admin
        ),
        422,
        "invalid_request",
    )
    assert world.node.projections.head() == head
    bad = {"Authorization": "Bearer kva_not-a-real-token"}
    assert_error(
        world.api.get(f"/api/v1/communities/{world.slug}/posts", headers=bad),
        401,
        "unauthenticated",
    )
    agent, headers = make_agent(world.api, world.admin, world.slug, "posts:read")
    forged = {"Authorization": headers["Authorization"][:-4] + "AAAA"}
    assert_error(
        world.api.get(f"/api/v1/communities/{world.slug}/posts", headers=forged),
        401,
        "unauthenticated",
    )
    assert refusals(world.node, agent["id"]) == []
    # An agent reads its own record.
    mine = world.api.get("/api/v1/agents/me", headers=headers)
    assert mine.json()["id"] == agent["id"]
    assert mine.json()["community"] == world.slug


def test_an_agent_over_its_rate_is_told_when_to_come_back(database_url: str) -> None:
    node = build(settings_for(database_url, agent_requests_per_minute=3))
    try:
        with serve(node) as api:
            admin = sign_up(api, "ada")
            found(api, admin, "menders")
            agent, headers = make_agent(api, admin, "menders", "posts:read")
            path = "/api/v1/communities/menders/posts"
            assert [api.get(path, headers=headers).status_code for _ in range(3)] == [200] * 3
            limited = api.get(path, headers=headers)
            assert_error(limited, 429, "rate_limited")
            assert int(limited.headers["Retry-After"]) >= 1
            # A limit is not a refusal to audit: a flood must not grow the log.
            assert refusals(node, agent["id"]) == []
            # People are not limited by it.
            assert all(api.get(path, headers=admin).status_code == 200 for _ in range(5))
    finally:
        node.close()


def test_notices_reach_named_participants(world: World) -> None:
    _, headers = make_agent(world.api, world.admin, world.slug, "gatherings:write", name="Reminder")
    register(world.api, world.gathering_id, world.member)
    sent = world.api.post(
        f"/api/v1/gatherings/{world.gathering_id}/notices",
        json={"text": "We meet in room 3", "id": "7b0e7c59-93a4-4f8c-a1a4-2f1c0a9b2d11"},
        headers=headers,
    )
    assert sent.status_code == 201, sent.text
    again = world.api.post(
        f"/api/v1/gatherings/{world.gathering_id}/notices",
        json={"text": "We meet in room 3", "id": "7b0e7c59-93a4-4f8c-a1a4-2f1c0a9b2d11"},
        headers=headers,
    )
    assert again.status_code == 201
    seen = world.api.get("/api/v1/me/notices", headers=world.member).json()
    assert [(n["text"], n["by_agent"]["name"]) for n in seen] == [("We meet in room 3", "Reminder")]
    assert world.api.get("/api/v1/me/notices", headers=world.admin).json() == []
    assert_error(
        world.api.post(
            f"/api/v1/gatherings/{world.gathering_id}/notices", json={"text": " "}, headers=headers
        ),
        422,
        "invalid_value",
    )
    assert_error(
        world.api.post(
            f"/api/v1/gatherings/{world.gathering_id}/notices",
            json={"text": "x"},
            headers=world.member,
        ),
        403,
        "forbidden",
    )
