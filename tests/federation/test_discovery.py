"""How peers find and read us: WebFinger (with Mastodon's round trip), NodeInfo, host-meta,
actor documents, the gathering as an Event, and content negotiation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from api_helpers import found, schedule, sign_up
from federation_support import ServedNode, served_node

from kunveno.adapters.activitypub.signatures import load_public_key
from kunveno.adapters.activitypub.vocabulary import parse_actor, parse_event

AP = {"Accept": "application/activity+json"}
LD = {"Accept": 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'}


@pytest.fixture
def node(database_url: str) -> Iterator[ServedNode]:
    with served_node(database_url) as served:
        yield served


def host_of(node: ServedNode) -> str:
    return node.url.removeprefix("http://")


def webfinger(node: ServedNode, resource: str) -> dict[str, Any]:
    answer = node.api.get("/.well-known/webfinger", params={"resource": resource})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/jrd+json")
    body: dict[str, Any] = answer.json()
    return body


def self_link(jrd: dict[str, Any]) -> str:
    [link] = [x for x in jrd["links"] if x["rel"] == "self"]
    assert link["type"] == "application/activity+json"
    href: str = link["href"]
    return href


@pytest.mark.parametrize("kind", ["person", "community"])
def test_webfinger_round_trip_closes_as_mastodon_checks_it(node: ServedNode, kind: str) -> None:
    owner = sign_up(node.api, "olga")
    found(node.api, owner, "menders")
    name = "olga" if kind == "person" else "menders"
    jrd = webfinger(node, f"acct:{name}@{host_of(node)}")
    assert jrd["subject"] == f"acct:{name}@{host_of(node)}"
    actor = node.api.get(self_link(jrd), headers=AP).json()
    # Mastodon's round trip: acct:preferredUsername@host-of-the-actor-id, asked again.
    again = webfinger(node, f"acct:{actor['preferredUsername']}@{host_of(node)}")
    assert self_link(again) == actor["id"]
    # Asking by the actor's URL names the same account.
    assert webfinger(node, actor["id"])["subject"] == jrd["subject"]
    subscribe = [x for x in jrd["links"] if x["rel"] == "http://ostatus.org/schema/1.0/subscribe"]
    assert len(subscribe) == 1
    assert "{uri}" in subscribe[0]["template"]


def test_webfinger_refuses_what_is_not_ours(node: ServedNode) -> None:
    sign_up(node.api, "olga")
    for resource in ("acct:nobody@" + host_of(node), "acct:olga@elsewhere.example"):
        answer = node.api.get("/.well-known/webfinger", params={"resource": resource})
        assert answer.status_code == 404, resource
        assert answer.json()["error"] == "not_found"
    assert node.api.get("/.well-known/webfinger").status_code == 422


def test_the_instance_actor_is_found_and_fetchable_unsigned(node: ServedNode) -> None:
    jrd = webfinger(node, f"acct:{host_of(node)}@{host_of(node)}")
    actor = node.api.get(self_link(jrd), headers=AP).json()
    assert actor["type"] == "Application"
    assert actor["id"] == f"{node.url}/actor"
    links = node.api.get("/.well-known/nodeinfo").json()["links"]
    rels = {x["rel"]: x["href"] for x in links}
    assert rels["https://www.w3.org/ns/activitystreams#Application"] == actor["id"]


def test_nodeinfo_2_0_and_2_1_count_from_the_read_models(node: ServedNode) -> None:
    sign_up(node.api, "olga")
    sign_up(node.api, "sam")
    links = node.api.get("/.well-known/nodeinfo").json()["links"]
    hrefs = {
        x["rel"].rsplit("/", 1)[1]: x["href"] for x in links if "nodeinfo.diaspora" in x["rel"]
    }
    assert set(hrefs) == {"2.0", "2.1"}
    for version, href in hrefs.items():
        answer = node.api.get(href)
        assert answer.status_code == 200
        assert f"schema/{version}#" in answer.headers["content-type"]
        body = answer.json()
        assert body["version"] == version
        assert body["software"]["name"] == "kunveno"
        assert body["protocols"] == ["activitypub"]
        assert body["usage"]["users"]["total"] == 2


def test_actor_documents_carry_what_peers_need_and_never_a_private_key(node: ServedNode) -> None:
    owner = sign_up(node.api, "olga")
    found(node.api, owner, "menders", membership="approval")
    for path, kind in (("/users/olga", "Person"), ("/communities/menders", "Group")):
        for accept in (AP, LD):
            answer = node.api.get(path, headers=accept)
            assert answer.status_code == 200
            assert answer.headers["content-type"].startswith("application/activity+json")
            assert "PRIVATE KEY" not in answer.text
            document = answer.json()
            assert "https://www.w3.org/ns/activitystreams" in document["@context"]
            actor = parse_actor(document)
            assert (actor.type, actor.id) == (kind, f"{node.url}{path}")
            assert actor.shared_inbox == f"{node.url}/inbox"
            assert actor.public_key_id == f"{actor.id}#main-key"
            assert actor.public_key_pem is not None
            load_public_key(actor.public_key_pem)  # RSA >= 2048 bits
        assert document["followers"] == f"{node.url}{path}/followers"
    group = node.api.get("/communities/menders", headers=AP).json()
    assert group["manuallyApprovesFollowers"] is True


def test_pages_for_browsers_json_for_peers(node: ServedNode) -> None:
    owner = sign_up(node.api, "olga")
    found(node.api, owner, "menders")
    page = node.api.get("/communities/menders", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "Menders" in page.text
    assert "Accept" in page.headers["vary"]


def test_a_gathering_is_an_event_that_mobilizon_reads(node: ServedNode) -> None:
    owner = sign_up(node.api, "olga")
    found(node.api, owner, "menders")
    created = schedule(node.api, owner, "menders", capacity=12, join_mode="approval")
    document = node.api.get(created["url"], headers=AP).json()
    event = parse_event(document)
    assert event.id == created["url"]
    assert event.name == created["title"]
    assert event.timezone == "Europe/Amsterdam"
    assert event.capacity == 12
    assert event.remaining_capacity == 12
    assert event.participant_count == 0
    assert event.join_mode == "restricted"
    assert event.status == "scheduled"
    assert event.attributed_to == f"{node.url}/communities/menders"
    assert event.address == "Library, room 2"
    assert document["summary"].startswith(created["title"])
    assert document["ical:status"] == document["status"] == "CONFIRMED"
    # Shown in its own timezone, with the offset (INTEROP §9.1).
    assert document["startTime"].endswith(("+01:00", "+02:00"))


def test_host_meta_points_at_webfinger(node: ServedNode) -> None:
    answer = node.api.get("/.well-known/host-meta")
    assert answer.status_code == 200
    assert f"{node.url}/.well-known/webfinger?resource={{uri}}" in answer.text
