"""Two Kunveno nodes on loopback: a person on B follows a community on A, hears of its new
gathering, registers for it from home, and leaves; and the approval-mode flows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from api_helpers import found, gathering, schedule, sign_up
from federation_support import ServedNode, eventually, served_node, statuses


@pytest.fixture
def nodes(database_url: str, tmp_path: Any) -> Iterator[tuple[ServedNode, ServedNode]]:
    # A on the parametrised database, B always on its own SQLite file.
    with (
        served_node(database_url) as a,
        served_node(f"sqlite:///{tmp_path / 'b.sqlite3'}") as b,
    ):
        yield a, b


def follow(b: ServedNode, headers: dict[str, str], address: str) -> httpx.Response:
    return b.api.post("/api/v1/me/following", json={"address": address}, headers=headers)


def test_a_person_on_b_follows_a_community_on_a_and_registers_for_its_gathering(
    nodes: tuple[ServedNode, ServedNode],
) -> None:
    a, b = nodes
    organiser = sign_up(a.api, "olga")
    found(a.api, organiser, "menders")
    community = f"{a.url}/communities/menders"
    bea = sign_up(b.api, "bea")

    answer = follow(b, bea, f"menders@{a.url.removeprefix('http://')}")
    assert answer.status_code == 201, answer.text
    assert answer.json() == {"target": community, "status": "pending", "since": None}
    eventually(lambda: statuses(b, "/api/v1/me/following", bea).get(community) == "accepted")
    followers = a.api.get("/api/v1/communities/menders/followers", headers=organiser).json()
    assert [f["actor_url"] for f in followers] == [f"{b.url}/users/bea"]

    created = schedule(a.api, organiser, "menders", capacity=1)
    heard = eventually(lambda: b.api.get("/api/v1/remote/gatherings", headers=bea).json())
    assert [(g["url"], g["name"], g["capacity"]) for g in heard] == [
        (created["url"], created["title"], 1)
    ]

    joined = b.api.post("/api/v1/remote/registrations", json={"url": created["url"]}, headers=bea)
    assert joined.status_code == 201, joined.text
    eventually(
        lambda: (
            statuses(b, "/api/v1/me/remote-registrations", bea).get(created["url"]) == "accepted"
        )
    )
    seen = gathering(a.api, created["id"], organiser)
    assert (seen["registration_count"], seen["remaining_capacity"]) == (1, 0)
    participants = a.api.get(
        f"/api/v1/gatherings/{created['id']}/registrations", headers=organiser
    ).json()["participants"]
    assert [(p["actor_url"], p["status"]) for p in participants] == [
        (f"{b.url}/users/bea", "confirmed")
    ]

    left = b.api.delete("/api/v1/remote/registrations", params={"url": created["url"]}, headers=bea)
    assert left.status_code == 204, left.text
    eventually(lambda: gathering(a.api, created["id"], organiser)["registration_count"] == 0)
    assert gathering(a.api, created["id"], organiser)["remaining_capacity"] == 1

    unfollowed = b.api.delete("/api/v1/me/following", params={"target": community}, headers=bea)
    assert unfollowed.status_code == 204
    eventually(
        lambda: a.api.get("/api/v1/communities/menders/followers", headers=organiser).json() == []
    )


def test_approval_flows_between_two_nodes(nodes: tuple[ServedNode, ServedNode]) -> None:
    a, b = nodes
    organiser = sign_up(a.api, "olga")
    found(a.api, organiser, "quilters", membership="approval")
    community = f"{a.url}/communities/quilters"
    bea = sign_up(b.api, "bea")

    assert follow(b, bea, community).status_code == 201
    pending = eventually(
        lambda: a.api.get(
            "/api/v1/communities/quilters/followers?status=pending", headers=organiser
        ).json()
    )
    assert [p["actor_url"] for p in pending] == [f"{b.url}/users/bea"]
    assert statuses(b, "/api/v1/me/following", bea)[community] == "pending"
    accepted = a.api.post(
        "/api/v1/communities/quilters/followers/accept",
        json={"actor_url": f"{b.url}/users/bea"},
        headers=organiser,
    )
    assert accepted.status_code == 204
    eventually(lambda: statuses(b, "/api/v1/me/following", bea).get(community) == "accepted")

    created = schedule(a.api, organiser, "quilters", join_mode="approval")
    joined = b.api.post("/api/v1/remote/registrations", json={"url": created["url"]}, headers=bea)
    assert joined.status_code == 201, joined.text
    waiting = eventually(
        lambda: a.api.get(
            f"/api/v1/gatherings/{created['id']}/registrations", headers=organiser
        ).json()["participants"]
    )
    assert [p["status"] for p in waiting] == ["pending"]
    assert statuses(b, "/api/v1/me/remote-registrations", bea)[created["url"]] == "pending"

    approved = a.api.post(
        f"/api/v1/gatherings/{created['id']}/registrations/{waiting[0]['id']}/approve",
        headers=organiser,
    )
    assert approved.status_code in (200, 204), approved.text
    eventually(
        lambda: (
            statuses(b, "/api/v1/me/remote-registrations", bea).get(created["url"]) == "accepted"
        )
    )
    assert gathering(a.api, created["id"], organiser)["registration_count"] == 1
