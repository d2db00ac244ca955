"""The audit through a real server: an agent's trail is exactly what it did and what it was
refused, with the scopes; filters and pages; only a community's admins read it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from api_helpers import (
    Headers,
    Json,
    assert_error,
    found,
    gathering_body,
    join,
    me,
    sign_in,
    sign_up,
)

from conftest import LiveServer
from conftest import test_settings as settings_for
from kunveno.bootstrap import build


@dataclass
class Story:
    """Olga runs "menders" with an agent that did a few things and was refused a few."""

    api: httpx.Client
    olga: Headers
    bea: Headers
    agent_id: str
    robot: Headers
    post_id: str
    gathering_id: str


def audit(api: httpx.Client, headers: Headers, slug: str = "menders", **params: Any) -> Json:
    answer = api.get(f"/api/v1/communities/{slug}/audit", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    body: Json = answer.json()
    assert set(body) == {"items", "next_after"}
    return body


def rows(items: list[Json]) -> list[tuple[str, str | None]]:
    return [(item["action"], item["scope"]) for item in items]


@pytest.fixture
def story(database_url: str) -> Iterator[Story]:
    node = build(settings_for(database_url))
    try:
        with LiveServer(node) as server, httpx.Client(base_url=server.url) as api:
            yield act(api)
    finally:
        node.close()


def act(api: httpx.Client) -> Story:
    olga, bea, kim = sign_up(api, "olga"), sign_up(api, "bea"), sign_up(api, "kim")
    found(api, olga, "menders")
    found(api, kim, "knitters")
    assert join(api, "menders", bea) == "member"
    made = api.post(
        "/api/v1/communities/menders/agents",
        json={"name": "Helper", "scopes": ["posts:write", "gatherings:write"]},
        headers=olga,
    )
    assert made.status_code == 201, made.text
    agent_id = made.json()["agent"]["id"]
    robot = {"Authorization": f"Bearer {made.json()['token']}"}

    post = api.post("/api/v1/communities/menders/posts", json={"content": "Hi!"}, headers=robot)
    assert post.status_code == 201, post.text
    gathering = api.post(
        "/api/v1/communities/menders/gatherings", json=gathering_body(), headers=robot
    )
    assert gathering.status_code == 201, gathering.text
    # Refused: a scope it lacks, another community.
    assert_error(api.get("/api/v1/communities/menders/posts", headers=robot), 403, "scope_missing")
    elsewhere = api.post(
        "/api/v1/communities/knitters/posts", json={"content": "Hi!"}, headers=robot
    )
    assert_error(elsewhere, 403, "forbidden")
    return Story(api, olga, bea, agent_id, robot, post.json()["id"], gathering.json()["id"])


def test_an_agents_trail_is_what_it_did_and_was_refused_with_the_scopes(story: Story) -> None:
    api, agent = story.api, f"agent:{story.agent_id}"
    suspended = api.post(f"/api/v1/agents/{story.agent_id}/suspend", headers=story.olga)
    assert suspended.status_code == 200, suspended.text
    assert_error(
        api.post("/api/v1/communities/menders/posts", json={"content": "?"}, headers=story.robot),
        403,
        "forbidden",
    )

    trail = audit(api, story.olga, actor=agent)
    items = trail["items"]
    assert trail["next_after"] is None
    assert rows(items) == [
        ("post.published", "posts:write"),
        ("gathering.scheduled", "gatherings:write"),
        ("agent.attempt_refused", "posts:read"),
        ("agent.attempt_refused", None),
        ("agent.attempt_refused", None),
    ]
    assert {item["actor"] for item in items} == {agent}
    assert {item["actor_label"] for item in items} == {"agent Helper"}
    assert [item["object_id"] for item in items] == [
        story.post_id,
        story.gathering_id,
        *[story.agent_id] * 3,
    ]
    assert [item["request"] for item in items[2:]] == [
        "GET /api/v1/communities/menders/posts",
        "POST /api/v1/communities/knitters/posts",
        "POST /api/v1/communities/menders/posts",
    ]
    assert "posts:read" in items[2]["detail"]
    assert "own community" in items[3]["detail"]
    assert "suspended" in items[4]["detail"]
    assert all(item["detail"] is None for item in items[:2])
    positions = [item["position"] for item in items]
    assert positions == sorted(positions)
    assert [item["at"] for item in items] == sorted(item["at"] for item in items)

    # The whole community's trail names every actor, and holds the agent's part in order.
    everything = audit(api, story.olga, limit=1000)["items"]
    assert [i for i in everything if i["actor"] == agent] == items
    olga_id = me(api, story.olga)["id"]
    by_olga = [(i["action"], i["actor_label"]) for i in everything if i["actor"] != agent]
    assert ("community.founded", "olga") in by_olga
    assert ("agent.created", "olga") in by_olga
    assert ("agent.suspended", "olga") in by_olga
    assert ("community.member_joined", "bea") in by_olga
    assert all(i["scope"] is None for i in everything if i["actor"] == f"person:{olga_id}")
    # Not in another community's trail: the refusal there is the agent's, recorded at home.
    assert audit(api, sign_in(api, "kim"), "knitters", actor=agent)["items"] == []


def test_since_until_and_pages_select_from_the_trail(story: Story) -> None:
    api, agent = story.api, f"agent:{story.agent_id}"
    items = audit(api, story.olga, actor=agent)["items"]
    assert len(items) == 4
    times = [item["at"] for item in items]

    assert audit(api, story.olga, actor=agent, since=times[1])["items"] == items[1:]
    assert audit(api, story.olga, actor=agent, until=times[2])["items"] == items[:2]
    window = audit(api, story.olga, actor=agent, since=times[1], until=times[3])
    assert window["items"] == items[1:3]
    assert audit(api, story.olga, actor=agent, since="2000-01-01")["items"] == items
    assert audit(api, story.olga, actor=agent, until="2000-01-01T00:00:00+02:00")["items"] == []

    first = audit(api, story.olga, actor=agent, limit=3)
    assert first["items"] == items[:3]
    assert first["next_after"] == items[2]["position"]
    rest = audit(api, story.olga, actor=agent, limit=3, after=first["next_after"])
    assert (rest["items"], rest["next_after"]) == (items[3:], None)
    exact = audit(api, story.olga, actor=agent, limit=4)
    assert (exact["items"], exact["next_after"]) == (items, None)
    # Any actor: a person's trail, a remote actor's (none here), given bare or prefixed.
    bea = audit(api, story.olga, actor=f"person:{me(api, story.bea)['id']}")["items"]
    assert [(i["action"], i["actor_label"]) for i in bea] == [("community.member_joined", "bea")]
    remote = "https://remote.example/users/zed"
    assert audit(api, story.olga, actor=remote)["items"] == []
    assert audit(api, story.olga, actor=f"remote:{remote}")["items"] == []


def test_only_the_communitys_admins_read_it_and_an_agent_asking_is_refused_and_recorded(
    story: Story,
) -> None:
    api, agent = story.api, f"agent:{story.agent_id}"
    path = "/api/v1/communities/menders/audit"
    assert_error(api.get(path, headers=story.bea), 403, "forbidden")  # a member
    assert_error(api.get(path), 401, "unauthenticated")
    moderator = api.patch(
        f"/api/v1/communities/menders/members/{me(api, story.bea)['id']}",
        json={"role": "moderator"},
        headers=story.olga,
    )
    assert moderator.status_code == 200, moderator.text
    assert_error(api.get(path, headers=story.bea), 403, "forbidden")  # organises, audits not
    assert_error(api.get(path, headers=story.robot), 403, "forbidden")

    last = audit(api, story.olga, actor=agent)["items"][-1]
    assert (last["action"], last["request"]) == ("agent.attempt_refused", f"GET {path}")
    assert last["detail"]
    assert_error(api.get("/api/v1/communities/nowhere/audit", headers=story.olga), 404, "not_found")


BAD = [
    ({"actor": "bob"}, "invalid_value"),
    ({"actor": "person:not-a-uuid"}, "invalid_value"),
    ({"actor": "agent:"}, "invalid_value"),
    ({"actor": "remote:ftp://x.example/a"}, "invalid_value"),
    ({"since": "yesterday"}, "invalid_value"),
    ({"since": "2025-05-01T18:00:00"}, "invalid_value"),  # no offset
    ({"until": "2025-13-01T00:00:00Z"}, "invalid_value"),
    ({"since": "2025-05-02", "until": "2025-05-01"}, "invalid_value"),
    ({"limit": "0"}, "invalid_request"),
    ({"limit": "1001"}, "invalid_request"),
    ({"after": "-1"}, "invalid_request"),
    ({"after": "x"}, "invalid_request"),
]


def test_bad_parameters_are_422_and_say_which(story: Story) -> None:
    for params, code in BAD:
        answer = story.api.get(
            "/api/v1/communities/menders/audit", params=params, headers=story.olga
        )
        detail = assert_error(answer, 422, code)
        assert any(name in detail for name in params), (params, detail)
