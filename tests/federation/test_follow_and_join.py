"""A remote actor follows a community, hears of its gatherings, joins one and leaves it:
real servers on loopback, real signatures both ways."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from api_helpers import found, gathering, schedule, sign_up
from federation_support import ServedNode, served_node
from peer import AS, Peer

from kunveno.adapters.activitypub.signatures import load_public_key, parse_signature, verify_request


@pytest.fixture
def node(database_url: str) -> Iterator[ServedNode]:
    with served_node(database_url) as served:
        yield served


@pytest.fixture
def peer() -> Iterator[Peer]:
    with Peer() as running:
        yield running


def assert_signed_by(
    node: ServedNode, path: str, headers: dict[str, str], body: dict[str, Any]
) -> None:
    """What the node sent verifies against the key its actor publishes."""
    parsed = parse_signature(headers)
    actor = node.api.get(
        parsed.key_id.split("#")[0], headers={"Accept": "application/activity+json"}
    ).json()
    assert actor["publicKey"]["id"] == parsed.key_id
    verify_request(
        parsed,
        method="POST",
        path=path,
        query="",
        headers=headers,
        body=json.dumps(body, separators=(",", ":")).encode(),
        public_key=load_public_key(actor["publicKey"]["publicKeyPem"]),
        now=datetime.now(UTC),
        scheme="http",
    )


def test_a_remote_follower_is_accepted_hears_of_a_gathering_and_joins_it(
    node: ServedNode, peer: Peer
) -> None:
    owner = sign_up(node.api, "olga")
    found(node.api, owner, "menders")
    community = f"{node.url}/communities/menders"

    follow_id, answer = peer.follow(community, f"{community}/inbox")
    assert answer.status_code == 202, answer.text

    accept = peer.wait_for("Accept", actor=community)
    assert accept["object"]["id"] == follow_id
    path, headers, body = peer.received_of("Accept")[0]
    assert_signed_by(node, path, headers, body)
    # Our node fetched the follower's actor with a signed GET.
    assert any("signature" in h for p, h in peer.fetches if p == f"/users/{peer.name}")

    created = schedule(node.api, owner, "menders", capacity=1)
    create = peer.wait_for("Create", actor=community)
    event = create["object"]
    assert (event["type"], event["id"]) == ("Event", created["url"])
    assert event["maximumAttendeeCapacity"] == 1
    assert event["remainingAttendeeCapacity"] == 1
    assert event["timezone"] == "Europe/Amsterdam"
    # One delivery per shared inbox.
    assert [p for p, _, a in peer.received if a["type"] == "Create"] == ["/inbox"]

    join_id = peer.new_id("Join")
    join = {
        "@context": AS,
        "id": join_id,
        "type": "Join",
        "actor": peer.actor,
        "object": created["url"],
        "participationMessage": "<b>see</b> you",
    }
    assert peer.post(f"{node.url}/inbox", join).status_code == 202
    accepted = peer.wait_for(
        "Accept",
        object={"id": join_id, "type": "Join", "actor": peer.actor, "object": created["url"]},
    )
    assert accepted["actor"] == community

    seen = gathering(node.api, created["id"], owner)
    assert (seen["registration_count"], seen["remaining_capacity"]) == (1, 0)
    served = node.api.get(created["url"], headers={"Accept": "application/activity+json"}).json()
    assert (served["participantCount"], served["remainingAttendeeCapacity"]) == (1, 0)

    leave = {
        "@context": AS,
        "id": peer.new_id("Leave"),
        "type": "Leave",
        "actor": peer.actor,
        "object": created["url"],
    }
    assert peer.post(f"{node.url}/inbox", leave).status_code == 202
    container = node.container
    assert container.inbox_processor.wait(container.projections.head(), timeout=15)
    seen = gathering(node.api, created["id"], owner)
    assert (seen["registration_count"], seen["remaining_capacity"]) == (0, 1)


def pending_followers(node: ServedNode, slug: str, headers: dict[str, str]) -> list[str]:
    answer = node.api.get(f"/api/v1/communities/{slug}/followers?status=pending", headers=headers)
    assert answer.status_code == 200, answer.text
    return [f["actor_url"] for f in answer.json()]


def test_an_approval_community_holds_a_follow_until_an_admin_accepts_it(
    node: ServedNode, peer: Peer
) -> None:
    owner = sign_up(node.api, "olga")
    found(node.api, owner, "quilters", membership="approval")
    community = f"{node.url}/communities/quilters"
    served = node.api.get(community, headers={"Accept": "application/activity+json"}).json()
    assert served["manuallyApprovesFollowers"] is True

    follow_id, answer = peer.follow(community, f"{node.url}/inbox")
    assert answer.status_code == 202, answer.text
    container = node.container
    assert container.inbox_processor.wait(container.projections.head(), timeout=15)
    assert pending_followers(node, "quilters", owner) == [peer.actor]
    assert peer.received_of("Accept") == []

    stranger = sign_up(node.api, "sam")
    refused = node.api.post(
        "/api/v1/communities/quilters/followers/accept",
        json={"actor_url": peer.actor},
        headers=stranger,
    )
    assert refused.status_code == 403, refused.text

    accepted = node.api.post(
        "/api/v1/communities/quilters/followers/accept",
        json={"actor_url": peer.actor},
        headers=owner,
    )
    assert accepted.status_code == 204, accepted.text
    accept = peer.wait_for("Accept", actor=community)
    assert accept["object"]["id"] == follow_id
    assert pending_followers(node, "quilters", owner) == []


def test_a_members_only_community_rejects_followers_and_is_not_published(
    node: ServedNode, peer: Peer
) -> None:
    owner = sign_up(node.api, "olga")
    found(node.api, owner, "family", visibility="private")
    community = f"{node.url}/communities/family"
    assert (
        node.api.get(community, headers={"Accept": "application/activity+json"}).status_code == 404
    )
    webfinger = node.api.get(
        f"/.well-known/webfinger?resource=acct:family@127.0.0.1:{node.url.rsplit(':', 1)[1]}"
    )
    assert webfinger.status_code == 404

    follow_id, answer = peer.follow(community, f"{node.url}/inbox")
    assert answer.status_code == 202, answer.text
    reject = peer.wait_for("Reject", actor=community)
    assert reject["object"]["id"] == follow_id
