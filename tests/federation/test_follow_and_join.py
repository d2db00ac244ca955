"""A remote actor follows a community, hears of its gatherings, joins one and leaves it:
real servers on loopback, real signatures both ways."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from api_helpers import found, gathering, schedule, sign_up
from cryptography.hazmat.primitives.asymmetric import rsa
from federation_support import ServedNode, eventually, served_node
from peer import AS, Peer

from kunveno.adapters.activitypub.signatures import load_public_key, parse_signature, verify_request
from kunveno.application.federation import remote_post_id
from kunveno.domain.post import Post


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


def note_to(peer: Peer, community: str, text: str) -> dict[str, Any]:
    note_id = peer.new_id("Note")
    return {
        "@context": AS,
        "id": f"{note_id}/activity",
        "type": "Create",
        "actor": peer.actor,
        "to": ["https://www.w3.org/ns/activitystreams#Public", community],
        "object": {
            "id": note_id,
            "type": "Note",
            "attributedTo": peer.actor,
            "content": f"<p>{text}<script>alert(1)</script></p>",
            "audience": community,
            "to": ["https://www.w3.org/ns/activitystreams#Public", community],
        },
    }


def timeline(node: ServedNode, slug: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    answer = node.api.get(f"/api/v1/communities/{slug}/posts", headers=headers)
    assert answer.status_code == 200, answer.text
    posts: list[dict[str, Any]] = answer.json()
    return posts


def test_a_follower_posts_to_the_community_which_announces_it(node: ServedNode, peer: Peer) -> None:
    owner = sign_up(node.api, "olga")
    found(node.api, owner, "menders")
    community = f"{node.url}/communities/menders"
    container = node.container

    # Not a follower yet: the note is recorded, but no post is made of it.
    stranger = note_to(peer, community, "hello?")
    assert peer.post(f"{node.url}/inbox", stranger).status_code == 202
    assert container.inbox_processor.wait(container.projections.head(), timeout=15)
    assert timeline(node, "menders", owner) == []

    peer.follow(community, f"{node.url}/inbox")
    peer.wait_for("Accept", actor=community)
    create = note_to(peer, community, "Bring your own thread")
    assert peer.post(f"{node.url}/inbox", create).status_code == 202
    announce = peer.wait_for("Announce", actor=community)
    assert announce["object"] == create  # the original, exactly as received (FEP-1b12)
    [post] = timeline(node, "menders", owner)
    assert post["author"] == f"remote:{peer.actor}"
    assert post["content"] == "Bring your own thread"

    # A local post: the community announces its Create, whose Note dereferences.
    local = node.api.post(
        "/api/v1/communities/menders/posts", json={"content": "Welcome!"}, headers=owner
    )
    assert local.status_code == 201, local.text

    def announced_create() -> list[dict[str, Any]]:
        return [
            a["object"]
            for _, _, a in peer.received_of("Announce")
            if isinstance(a["object"], dict)
            and a["object"].get("type") == "Create"
            and a["object"]["object"]["id"] == local.json()["url"]
        ]

    [inner] = eventually(announced_create)
    assert inner["actor"] == f"{node.url}/users/olga"
    note = node.api.get(local.json()["url"], headers={"Accept": "application/activity+json"})
    assert note.status_code == 200
    assert note.json()["audience"] == community
    assert note.json()["attributedTo"] == inner["actor"]

    delete = {
        "@context": AS,
        "id": peer.new_id("Delete"),
        "type": "Delete",
        "actor": peer.actor,
        "object": {"id": create["object"]["id"], "type": "Tombstone"},
    }
    assert peer.post(f"{node.url}/inbox", delete).status_code == 202
    assert container.inbox_processor.wait(container.projections.head(), timeout=15)
    assert [p["content"] for p in timeline(node, "menders", owner)] == ["Welcome!"]


def test_a_flag_is_kept_as_a_report_and_a_like_is_counted_once(
    node: ServedNode, peer: Peer
) -> None:
    owner = sign_up(node.api, "olga")
    found(node.api, owner, "menders")
    created = schedule(node.api, owner, "menders")
    container = node.container
    flag = {
        "@context": AS,
        "id": peer.new_id("Flag"),
        "type": "Flag",
        "actor": peer.actor,
        "content": "<b>spam</b> event",
        "object": [f"{node.url}/communities/menders", created["url"]],
    }
    assert peer.post(f"{node.url}/inbox", flag).status_code == 202
    for _ in range(2):  # two Likes by the same actor count once
        like = {
            "@context": AS,
            "id": peer.new_id("Like"),
            "type": "Like",
            "actor": peer.actor,
            "object": created["url"],
        }
        assert peer.post(f"{node.url}/inbox", like).status_code == 202
    assert container.inbox_processor.wait(container.projections.head(), timeout=15)
    container.read_your_writes(container.projections.head())
    [report] = container.queries.reports()
    assert report["reporter"] == peer.actor
    assert report["comment"] == "<b>spam</b> event"
    assert gathering(node.api, created["id"], owner)["like_count"] == 1

    undo = {
        "@context": AS,
        "id": peer.new_id("Undo"),
        "type": "Undo",
        "actor": peer.actor,
        "object": {"type": "Like", "id": like["id"], "actor": peer.actor, "object": created["url"]},
    }
    assert peer.post(f"{node.url}/inbox", undo).status_code == 202
    assert container.inbox_processor.wait(container.projections.head(), timeout=15)
    assert gathering(node.api, created["id"], owner)["like_count"] == 0


def test_a_rotated_key_is_fetched_again_once(node: ServedNode, peer: Peer) -> None:
    owner = sign_up(node.api, "olga")
    found(node.api, owner, "menders")
    community = f"{node.url}/communities/menders"
    _, first = peer.follow(community, f"{community}/inbox")
    assert first.status_code == 202
    fetched = len(peer.fetches)

    peer.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # blind rotation
    like = {
        "@context": AS,
        "id": peer.new_id("Like"),
        "type": "Like",
        "actor": peer.actor,
        "object": community,
    }
    answer = peer.post(f"{node.url}/inbox", like)
    assert answer.status_code == 202, answer.text
    assert len(peer.fetches) == fetched + 1  # the cached key failed; fetched once more


def test_a_follower_of_the_node_hears_every_public_gathering_from_its_actor(
    node: ServedNode, peer: Peer
) -> None:
    """Gancio's way: it follows the instance actor, and takes events from it only."""
    owner = sign_up(node.api, "olga")
    found(node.api, owner, "menders")
    instance = f"{node.url}/actor"
    follow_id, answer = peer.follow(instance, f"{node.url}/inbox")
    assert answer.status_code == 202, answer.text
    assert peer.wait_for("Accept", actor=instance)["object"]["id"] == follow_id
    followers = node.api.get("/actor/followers", headers={"Accept": "application/activity+json"})
    assert followers.json()["totalItems"] == 1

    created = schedule(node.api, owner, "menders")
    create = peer.wait_for("Create", actor=instance)
    assert create["object"]["id"] == created["url"]
    assert create["object"]["attributedTo"] == f"{node.url}/communities/menders"


def test_a_deleted_remote_actor_takes_what_it_said_here_along(node: ServedNode, peer: Peer) -> None:
    owner = sign_up(node.api, "olga")
    found(node.api, owner, "menders")
    community = f"{node.url}/communities/menders"
    container = node.container
    peer.follow(community, f"{node.url}/inbox")
    peer.wait_for("Accept", actor=community)
    create = note_to(peer, community, "words of a soon gone actor")
    assert peer.post(f"{node.url}/inbox", create).status_code == 202
    peer.wait_for("Announce", actor=community)
    assert [p["content"] for p in timeline(node, "menders", owner)] == [
        "words of a soon gone actor"
    ]

    delete = {
        "@context": AS,
        "id": peer.new_id("Delete"),
        "type": "Delete",
        "actor": peer.actor,
        "object": peer.actor,
    }
    assert peer.post(f"{node.url}/inbox", delete).status_code == 202
    assert container.inbox_processor.wait(container.projections.head(), timeout=15)
    assert timeline(node, "menders", owner) == []
    follower = node.api.get("/api/v1/communities/menders/followers", headers=owner).json()
    assert follower == []
    # And the words are unreadable in the log itself: their subject's key is gone.
    stored: Post = container.log.repository.get(remote_post_id(create["object"]["id"]), version=1)
    assert stored.content == ""


def test_a_notice_reaches_a_remote_participant_as_a_direct_message(
    node: ServedNode, peer: Peer
) -> None:
    owner = sign_up(node.api, "olga")
    found(node.api, owner, "menders")
    created = schedule(node.api, owner, "menders", capacity=5)
    join_id = peer.new_id("Join")
    join = {"id": join_id, "type": "Join", "actor": peer.actor, "object": created["url"]}
    assert peer.post(f"{node.url}/inbox", {"@context": AS, **join}).status_code == 202
    peer.wait_for("Accept", object=join)

    sent = node.api.post(
        f"/api/v1/gatherings/{created['id']}/notices",
        json={"text": "We meet in room 3 this time."},
        headers=owner,
    )
    assert sent.status_code == 201, sent.text

    def direct() -> list[tuple[str, dict[str, str], dict[str, Any]]]:
        return [r for r in peer.received_of("Create") if r[2]["object"]["type"] == "Note"]

    [(path, headers, create)] = eventually(direct)
    olga = f"{node.url}/users/olga"
    note = create["object"]
    assert (create["actor"], note["attributedTo"]) == (olga, olga)
    # Direct: to the participant only, never public, with a mention so their server notifies.
    assert create["to"] == note["to"] == [peer.actor]
    assert "https://www.w3.org/ns/activitystreams#Public" not in json.dumps(create)
    assert [t["href"] for t in note["tag"] if t["type"] == "Mention"] == [peer.actor]
    assert "We meet in room 3 this time." in note["content"]
    assert created["url"] in note["content"]
    assert_signed_by(node, path, headers, create)
