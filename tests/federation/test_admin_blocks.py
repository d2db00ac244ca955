"""Node administrators block a whole server or one actor through the API: its activities are
refused at the door (403, nothing stored) and nothing more is delivered to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_helpers import assert_error, found, sign_up
from federation_support import ServedNode, served_node
from peer import Peer


@pytest.fixture
def node(database_url: str) -> Iterator[ServedNode]:
    with served_node(database_url, admins="root") as served:
        yield served


def test_admins_block_and_unblock_a_domain(node: ServedNode) -> None:
    root, olga = sign_up(node.api, "root"), sign_up(node.api, "olga")
    found(node.api, olga, "menders")
    community = f"{node.url}/communities/menders"
    refused = node.api.post(
        "/api/v1/admin/blocks", json={"kind": "domain", "value": "127.0.0.1"}, headers=olga
    )
    assert_error(refused, 403, "forbidden")

    blocked = node.api.post(
        "/api/v1/admin/blocks",
        json={"kind": "domain", "value": "127.0.0.1", "reason": "testing"},
        headers=root,
    )
    assert blocked.status_code == 201, blocked.text
    assert (blocked.json()["kind"], blocked.json()["value"]) == ("domain", "127.0.0.1")
    listed = node.api.get("/api/v1/admin/blocks", headers=root).json()
    assert [(b["kind"], b["value"], b["reason"]) for b in listed] == [
        ("domain", "127.0.0.1", "testing")
    ]
    bad = node.api.post(
        "/api/v1/admin/blocks", json={"kind": "domain", "value": "not a domain"}, headers=root
    )
    assert_error(bad, 422, "invalid_value")

    with Peer() as peer:
        _, answer = peer.follow(community, f"{node.url}/inbox")
        assert_error(answer, 403, "blocked")
        assert peer.fetches == []  # refused before any key fetch

        lifted = node.api.delete(
            "/api/v1/admin/blocks/domain", params={"value": "127.0.0.1"}, headers=root
        )
        assert lifted.status_code == 204
        _, answer = peer.follow(community, f"{node.url}/inbox")
        assert answer.status_code == 202, answer.text
        assert peer.wait_for("Accept", actor=community)["type"] == "Accept"
    assert node.api.get("/api/v1/admin/blocks", headers=root).json() == []
