"""Three nodes: a person on A follows bob on B; bob moves to carl on C; A's person now follows
carl, as Mastodon moves follows, once carl names bob among his aliases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_helpers import sign_up
from federation_support import ServedNode, eventually, served_node, statuses


@pytest.fixture
def three(database_url: str, tmp_path: Path) -> Iterator[tuple[ServedNode, ...]]:
    with (
        served_node(database_url) as a,
        served_node(f"sqlite:///{tmp_path / 'b.sqlite3'}") as b,
        served_node(f"sqlite:///{tmp_path / 'c.sqlite3'}") as c,
    ):
        yield a, b, c


def handle(node: ServedNode, name: str) -> str:
    return f"{name}@{node.url.removeprefix('http://')}"


def test_a_move_from_b_to_c_carries_the_follow(three: tuple[ServedNode, ...]) -> None:
    a, b, c = three
    ann, bob, carl = sign_up(a.api, "ann"), sign_up(b.api, "bob"), sign_up(c.api, "carl")
    bob_url, carl_url = f"{b.url}/users/bob", f"{c.url}/users/carl"

    followed = a.api.post("/api/v1/me/following", json={"address": handle(b, "bob")}, headers=ann)
    assert followed.status_code == 201, followed.text
    eventually(lambda: statuses(a, "/api/v1/me/following", ann).get(bob_url) == "accepted")

    # Without carl's alias, B refuses to move bob there.
    refused = b.api.post("/api/v1/me/move", json={"address": handle(c, "carl")}, headers=bob)
    assert refused.status_code == 422, refused.text

    aliased = c.api.put("/api/v1/me/aliases", json={"aliases": [handle(b, "bob")]}, headers=carl)
    assert aliased.status_code == 200, aliased.text
    assert aliased.json() == {"also_known_as": [bob_url]}
    moved = b.api.post("/api/v1/me/move", json={"address": handle(c, "carl")}, headers=bob)
    assert moved.status_code == 202, moved.text
    document = b.api.get("/users/bob", headers={"Accept": "application/activity+json"}).json()
    assert document["movedTo"] == carl_url

    eventually(lambda: statuses(a, "/api/v1/me/following", ann).get(carl_url) == "accepted")
    assert statuses(a, "/api/v1/me/following", ann)[bob_url] == "withdrawn"
    carl_row = c.container.queries.person_named("carl")
    assert carl_row is not None
    eventually(lambda: c.container.queries.follower_count(carl_row["id"]) == 1)
    # bob's server heard the Undo: ann no longer follows bob there.
    bob_row = b.container.queries.person_named("bob")
    assert bob_row is not None
    eventually(lambda: b.container.queries.follower_count(bob_row["id"]) == 0)

    again = b.api.post("/api/v1/me/move", json={"address": handle(c, "carl")}, headers=bob)
    assert again.status_code == 409, again.text
