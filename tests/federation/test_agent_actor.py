"""An agent over ActivityPub: a ``Service`` actor of its community, and what it posts is
attributed to it, so remote people can tell. Real servers on loopback, real signatures."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID, uuid4

import httpx
import pytest
from api_helpers import found, gathering_body, sign_up
from cryptography.hazmat.primitives.asymmetric import rsa
from federation_support import ServedNode, eventually, served_node
from peer import AS, Peer

from kunveno.adapters.activitypub.signatures import (
    load_public_key,
    parse_signature,
    sign_request,
    verify_request,
)
from kunveno.adapters.activitypub.vocabulary import parse_actor

AS_JSON = {"Accept": "application/activity+json"}
LD_JSON = {"Accept": 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'}
DESCRIPTION = "Reminds everyone of the repair café the day before."
Json = dict[str, Any]


@pytest.fixture
def node(database_url: str) -> Iterator[ServedNode]:
    with served_node(database_url) as served:
        yield served


@pytest.fixture
def peer() -> Iterator[Peer]:
    with Peer() as running:
        yield running


def make_agent(
    node: ServedNode,
    headers: dict[str, str],
    slug: str,
    scopes: tuple[str, ...] = ("posts:write",),
) -> tuple[Json, str]:
    answer = node.api.post(
        f"/api/v1/communities/{slug}/agents",
        json={"name": "Reminder", "description": DESCRIPTION, "scopes": list(scopes)},
        headers=headers,
    )
    assert answer.status_code == 201, answer.text
    body: Json = answer.json()
    return body["agent"], body["token"]


def handle_of(agent: Json) -> str:
    return f"agent.{UUID(agent['id']).hex[:12]}"


def host_of(node: ServedNode) -> str:
    return urlsplit(node.url).netloc


def webfinger(node: ServedNode, resource: str) -> httpx.Response:
    return node.api.get("/.well-known/webfinger", params={"resource": resource})


def signed_get(peer: Peer, url: str) -> httpx.Response:
    """A GET signed as Mastodon signs its fetches."""
    headers = sign_request(
        method="GET",
        url=url,
        body=None,
        key_id=peer.key_id,
        private_key=peer.key,
        now=datetime.now(UTC),
        extra_headers={"Accept": "application/activity+json"},
    )
    return httpx.get(url, headers=headers, timeout=10)


def verify_delivery(
    path: str, headers: dict[str, str], body: Json, public_pem: str, key_id: str
) -> None:
    """What the node POSTed verifies against ``public_pem``, the key published as ``key_id``."""
    parsed = parse_signature(headers)
    assert parsed.key_id == key_id
    verify_request(
        parsed,
        method="POST",
        path=path,
        query="",
        headers=headers,
        body=json.dumps(body, separators=(",", ":")).encode(),
        public_key=load_public_key(public_pem),
        now=datetime.now(UTC),
        scheme="http",
    )


def test_an_agent_is_a_service_actor_of_its_community(node: ServedNode) -> None:
    owner = sign_up(node.api, "olga")
    found(node.api, owner, "menders")
    agent, _ = make_agent(node, owner, "menders")
    url = f"{node.url}/agents/{agent['id']}"
    community = f"{node.url}/communities/menders"
    assert agent["url"] == url

    answer = node.api.get(url, headers=AS_JSON)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/activity+json")
    assert "Accept" in answer.headers["vary"]
    actor = answer.json()
    assert actor["@context"][0] == AS
    assert actor["id"] == url
    assert actor["type"] == "Service"  # Mastodon and GoToSocial show it as a bot
    handle = handle_of(agent)
    assert actor["preferredUsername"] == handle
    assert actor["webfinger"] == f"{handle}@{host_of(node)}"
    assert actor["name"] == "Reminder"
    assert actor["attributedTo"] == community
    assert f"<p>{DESCRIPTION}</p>" in actor["summary"]
    assert f'<a href="{community}">Menders</a>, run by its admins.' in actor["summary"]
    assert {field["name"] for field in actor["attachment"]} == {"Agent of", "Run by"}
    assert actor["inbox"] == f"{url}/inbox"
    assert actor["outbox"] == f"{url}/outbox"
    assert actor["followers"] == f"{url}/followers"
    assert actor["following"] == f"{url}/following"
    assert actor["endpoints"] == {"sharedInbox": f"{node.url}/inbox"}
    assert (actor["discoverable"], actor["indexable"]) == (False, False)
    assert actor["manuallyApprovesFollowers"] is True

    # Its own key, kept as the agent's, RSA-2048, published the way Mastodon publishes one.
    key = actor["publicKey"]
    assert (key["id"], key["owner"]) == (f"{url}#main-key", url)
    keys = node.container.keys
    assert key["publicKeyPem"] == keys.key_pair(f"agent:{agent['id']}").public_pem
    public_key = load_public_key(key["publicKeyPem"])
    assert isinstance(public_key, rsa.RSAPublicKey)
    assert public_key.key_size == 2048
    group = node.api.get(community, headers=AS_JSON).json()
    assert group["publicKey"]["publicKeyPem"] != key["publicKeyPem"]

    # What our own nodes read of an actor reads it whole.
    parsed = parse_actor(actor)
    assert (parsed.type, parsed.inbox, parsed.public_key_id) == (
        "Service",
        f"{url}/inbox",
        key["id"],
    )

    # The other ActivityStreams media type answers the same; a browser gets a page.
    assert node.api.get(url, headers=LD_JSON).json() == actor
    browser = node.api.get(url, headers={"Accept": "text/html"})
    assert browser.status_code == 200
    assert browser.headers["content-type"].startswith("text/html")
    assert "Reminder" in browser.text
    assert "Agent of" in browser.text

    # Its collections exist, empty.
    for name in ("outbox", "followers", "following"):
        collection = node.api.get(f"{url}/{name}", headers=AS_JSON)
        assert collection.status_code == 200, name
        assert (collection.json()["id"], collection.json()["totalItems"]) == (f"{url}/{name}", 0)


def test_webfinger_finds_an_agent_by_its_url_and_its_handle(node: ServedNode) -> None:
    owner = sign_up(node.api, "olga")
    found(node.api, owner, "menders")
    agent, _ = make_agent(node, owner, "menders")
    url = f"{node.url}/agents/{agent['id']}"
    handle = handle_of(agent)
    host = host_of(node)

    for resource in (url, f"acct:{handle}@{host}", f"acct:{handle.upper()}@{host}"):
        answer = webfinger(node, resource)
        assert answer.status_code == 200, (resource, answer.text)
        body = answer.json()
        assert body["subject"] == f"acct:{handle}@{host}"
        assert {"rel": "self", "type": "application/activity+json", "href": url} in body["links"]

    # Mastodon's round trip: preferredUsername@host of the actor leads back to the actor.
    actor = node.api.get(url, headers=AS_JSON).json()
    again = webfinger(node, f"acct:{actor['preferredUsername']}@{host}").json()
    assert [link["href"] for link in again["links"] if link["rel"] == "self"] == [actor["id"]]

    # A handle no agent has, another host, and a malformed agent URL: nothing here.
    assert webfinger(node, f"acct:agent.{'0' * 12}@{host}").status_code == 404
    assert webfinger(node, f"acct:{handle}@elsewhere.example").status_code == 404
    assert webfinger(node, f"{node.url}/agents/not-an-id").status_code == 404

    # People and communities are found as before; no one can take an agent's handle, as
    # neither usernames nor slugs may hold a dot.
    assert webfinger(node, f"acct:olga@{host}").json()["aliases"] == [f"{node.url}/users/olga"]
    assert webfinger(node, f"acct:menders@{host}").status_code == 200
    taken = node.api.post(
        "/api/v1/communities",
        json={"slug": handle, "name": "Squatter", "visibility": "public", "membership": "open"},
        headers=owner,
    )
    assert taken.status_code == 422, taken.text
    squatter = node.api.post("/api/v1/accounts", json={"username": handle, "password": "x" * 12})
    assert squatter.status_code == 422, squatter.text


def test_unknown_agents_are_not_found_and_a_removed_one_is_gone(node: ServedNode) -> None:
    owner = sign_up(node.api, "olga")
    found(node.api, owner, "menders")
    found(node.api, owner, "kitchen", visibility="private")
    agent, token = make_agent(node, owner, "menders")
    url = f"{node.url}/agents/{agent['id']}"

    for path in (f"/agents/{uuid4()}", "/agents/not-an-id", f"/agents/{uuid4()}/outbox"):
        assert node.api.get(path, headers=AS_JSON).status_code == 404, path
    assert node.api.get(f"/agents/{uuid4()}").status_code == 404

    # A members-only community is not published, nor are its agents.
    hidden, _ = make_agent(node, owner, "kitchen")
    hidden_url = f"{node.url}/agents/{hidden['id']}"
    assert node.api.get(hidden_url, headers=AS_JSON).status_code == 404
    assert webfinger(node, hidden_url).status_code == 404
    assert webfinger(node, f"acct:{handle_of(hidden)}@{host_of(node)}").status_code == 404

    # What the agent said stays; the agent itself, once removed, is gone (410).
    posted = node.api.post(
        "/api/v1/communities/menders/posts",
        json={"content": "See you tomorrow"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert posted.status_code == 201, posted.text
    assert node.api.delete(f"/api/v1/agents/{agent['id']}", headers=owner).status_code == 204

    gone = node.api.get(url, headers=AS_JSON)
    assert gone.status_code == 410
    assert gone.headers["content-type"].startswith("application/activity+json")
    tombstone = gone.json()
    assert (tombstone["id"], tombstone["type"], tombstone["formerType"]) == (
        url,
        "Tombstone",
        "Service",
    )
    assert "deleted" in tombstone
    assert node.api.get(url).status_code == 410  # the page too
    assert webfinger(node, url).status_code == 410
    assert webfinger(node, f"acct:{handle_of(agent)}@{host_of(node)}").status_code == 410
    for name in ("outbox", "followers", "following"):
        assert node.api.get(f"{url}/{name}", headers=AS_JSON).status_code == 410, name
    assert httpx.post(f"{url}/inbox", json={}, timeout=10).status_code == 410
    note = node.api.get(posted.json()["url"], headers=AS_JSON)
    assert note.status_code == 200
    assert note.json()["attributedTo"] == url


def test_a_remote_follower_hears_the_agents_post_attributed_to_its_service_actor(
    node: ServedNode, peer: Peer
) -> None:
    owner = sign_up(node.api, "olga")
    found(node.api, owner, "menders")
    community = f"{node.url}/communities/menders"
    agent, token = make_agent(node, owner, "menders", ("posts:write", "gatherings:write"))
    agent_url = f"{node.url}/agents/{agent['id']}"
    as_agent = {"Authorization": f"Bearer {token}"}

    peer.follow(community, f"{node.url}/inbox")
    peer.wait_for("Accept", actor=community)
    posted = node.api.post(
        "/api/v1/communities/menders/posts",
        json={"content": "The repair café is tomorrow at 10."},
        headers=as_agent,
    )
    assert posted.status_code == 201, posted.text
    assert posted.json()["author"] == f"agent:{agent['id']}"
    note_url = posted.json()["url"]

    def announced() -> list[tuple[str, dict[str, str], Json]]:
        return [
            (path, headers, activity)
            for path, headers, activity in peer.received_of("Announce")
            if isinstance(activity["object"], dict)
            and activity["object"].get("type") == "Create"
            and activity["object"]["object"]["id"] == note_url
        ]

    # The community announces the agent's Create (FEP-1b12), signed with the community's key.
    [(path, headers, announce)] = eventually(announced)
    assert announce["actor"] == community
    group = node.api.get(community, headers=AS_JSON).json()
    verify_delivery(
        path, headers, announce, group["publicKey"]["publicKeyPem"], group["publicKey"]["id"]
    )
    create = announce["object"]
    assert create["actor"] == agent_url
    assert create["object"]["attributedTo"] == agent_url
    assert create["object"]["audience"] == community
    assert "The repair café is tomorrow at 10." in create["object"]["content"]

    # The Note and the Create dereference and say the same; the Create is in the agent's outbox.
    note = node.api.get(note_url, headers=AS_JSON)
    assert note.status_code == 200
    assert note.json()["attributedTo"] == agent_url
    assert node.api.get(create["id"], headers=AS_JSON).json() == create
    outbox = node.api.get(f"{agent_url}/outbox", headers=AS_JSON).json()
    assert [item["id"] for item in outbox["orderedItems"]] == [create["id"]]

    # The remote server fetches the author with a signed GET, as Mastodon does, and reads a
    # bot with a key that is its own.
    fetched = signed_get(peer, agent_url)
    assert fetched.status_code == 200, fetched.text
    author = parse_actor(fetched.json())
    assert (author.id, author.type, author.public_key_owner) == (agent_url, "Service", agent_url)
    assert author.public_key_id == f"{agent_url}#main-key"
    assert author.public_key_pem is not None
    load_public_key(author.public_key_pem)

    # A gathering the agent schedules is still the community's (Mobilizon's way).
    scheduled = node.api.post(
        "/api/v1/communities/menders/gatherings", json=gathering_body(), headers=as_agent
    )
    assert scheduled.status_code == 201, scheduled.text
    gathering_url = f"{node.url}/gatherings/{scheduled.json()['id']}"
    event = peer.wait_for("Create", actor=community)
    assert event["object"]["id"] == gathering_url
    assert event["object"]["attributedTo"] == community

    # Removed, the agent is deleted at its followers' servers: a Delete signed with the key
    # they fetched before (its actor now answers 410, so that cached key is what they have).
    assert node.api.delete(f"/api/v1/agents/{agent['id']}", headers=owner).status_code == 204
    delete = peer.wait_for("Delete", actor=agent_url)
    assert delete["object"] == agent_url
    [(path, headers, _)] = [r for r in peer.received_of("Delete") if r[2] == delete]
    verify_delivery(path, headers, delete, author.public_key_pem, author.public_key_id)
    assert signed_get(peer, agent_url).status_code == 410


def test_another_kunveno_node_resolves_the_agent_and_checks_its_key(
    node: ServedNode, tmp_path: Any
) -> None:
    owner = sign_up(node.api, "olga")
    found(node.api, owner, "menders")
    agent, _ = make_agent(node, owner, "menders")
    agent_url = f"{node.url}/agents/{agent['id']}"

    with served_node(f"sqlite:///{tmp_path / 'b.sqlite3'}") as b:
        # By handle: WebFinger, then a GET signed by B's instance actor, then the key, with
        # the checks B makes of every signer's key (it is the actor's own, on its origin).
        actor = b.container.resolver.actor(f"{handle_of(agent)}@{host_of(node)}")
        assert (actor.id, actor.type, actor.name) == (agent_url, "Service", "Reminder")
        key = b.container.actors.key(f"{agent_url}#main-key", refresh=True)
        assert key.owner == agent_url
        assert key.public_pem == node.container.keys.key_pair(f"agent:{agent['id']}").public_pem


def test_a_follow_of_an_agent_is_rejected_by_the_agent(node: ServedNode, peer: Peer) -> None:
    """Nobody follows an agent (its posts come through its community); the asker is told so
    by the agent itself, as Mastodon matches a Reject to its request by the followed actor."""
    owner = sign_up(node.api, "olga")
    found(node.api, owner, "menders")
    agent, _ = make_agent(node, owner, "menders")
    agent_url = f"{node.url}/agents/{agent['id']}"
    actor = node.api.get(agent_url, headers=AS_JSON).json()

    follow_id, answer = peer.follow(agent_url, f"{node.url}/inbox")
    assert answer.status_code == 202, answer.text
    reject = peer.wait_for("Reject", actor=agent_url)
    assert reject["object"]["id"] == follow_id
    assert reject["object"]["type"] == "Follow"
    [(path, headers, _)] = [r for r in peer.received_of("Reject") if r[2] == reject]
    verify_delivery(
        path, headers, reject, actor["publicKey"]["publicKeyPem"], actor["publicKey"]["id"]
    )
