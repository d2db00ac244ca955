"""Federation with bovine-herd, an ActivityPub server nobody here wrote, both on loopback.

bovine answers 401 to unsigned GETs of its actors and to unsigned POSTs to its inboxes,
signs draft-cavage (rsa-sha256) and never accepts follows by itself; see
/work/shared/peers/README.md. Its actor follows one of our communities, is accepted, hears
of the gathering the community schedules, and unfollows again. One bovine serves the module.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from api_helpers import Headers, found, schedule, sign_up
from bovine_peer import Bovine, BovineUnavailable, running_bovine
from federation_support import ServedNode, served_node

from kunveno.domain.inbound import InboundActivity

Json = dict[str, Any]


@pytest.fixture(scope="module")
def bovine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bovine]:
    run_dir = tmp_path_factory.mktemp("bovine")
    try:
        with running_bovine(run_dir) as peer:
            yield peer
    except BovineUnavailable as error:
        log = run_dir / "herd.log"
        tail = log.read_text(errors="replace")[-4000:] if log.exists() else ""
        reason = f"bovine-herd could not be installed or started: {error}\n{tail}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture
def node(tmp_path: Path) -> Iterator[ServedNode]:
    with served_node(f"sqlite:///{tmp_path / 'kunveno.sqlite3'}") as served:
        yield served


def id_of(value: Any) -> Any:
    """bovine embeds what it knows of (an actor, an object): the id either way."""
    return value.get("id") if isinstance(value, dict) else value


def settle(node: ServedNode) -> None:
    """Wait until the inbox processor and every projection have folded the whole log."""
    c = node.container
    assert c.inbox_processor.wait(c.projections.head(), timeout=15)
    assert c.projections.wait(c.projections.head(), timeout=15)


def followers(node: ServedNode, community_id: str, status: str = "accepted") -> list[str]:
    return [row["follower"] for row in node.container.queries.followers(community_id, status)]


def deliveries_to(node: ServedNode, bovine: Bovine, count: int, timeout: float = 10) -> list[Json]:
    """Our deliveries to bovine, once ``count`` of them have an outcome."""
    deadline = time.monotonic() + timeout
    while True:
        rows = node.container.read_store.query(
            "SELECT inbox, state, last_status, last_error FROM fed_deliveries "
            "WHERE inbox LIKE %s ORDER BY id",
            (f"{bovine.base}/%",),
        )
        done = [row for row in rows if row["state"] != "pending" or row["last_status"]]
        if len(done) >= count or time.monotonic() > deadline:
            return [dict(row) for row in rows]
        time.sleep(0.2)


def follow_accepted(node: ServedNode, bovine: Bovine, slug: str) -> tuple[Headers, str, str]:
    """Found an open public community and have bovine's actor follow it, which we accept:
    the owner's headers, the community's id and its actor URL."""
    owner = sign_up(node.api, "olga")
    community = found(node.api, owner, slug)
    url = f"{node.url}/communities/{slug}"
    output = bovine.follow(url)
    # The probe polls alice's `following`, which bovine fills when our Accept arrives.
    assert f"ok   Accept received: {url} is in following" in output, output
    settle(node)
    assert followers(node, community["id"]) == [bovine.actor]
    return owner, community["id"], url


def test_bovine_follows_a_community_is_accepted_and_hears_of_its_gathering(
    node: ServedNode, bovine: Bovine
) -> None:
    owner, _, url = follow_accepted(node, bovine, "menders")

    def is_accept(item: Json) -> bool:
        return item.get("type") == "Accept" and id_of(item.get("actor")) == url

    accept = bovine.wait_for_inbox(is_accept)
    follow = accept["object"]
    assert (follow["type"], id_of(follow["actor"]), id_of(follow["object"])) == (
        "Follow",
        bovine.actor,
        url,
    )
    assert follow["id"].startswith(f"{bovine.base}/")

    # bovine refuses unsigned GETs of its actors: that we verified its signed Follow at all
    # means we fetched its actor with a signed GET. bovine logs whom it served it to, and
    # that is our instance actor, so it verified our signature; the actor is in our cache.
    assert f"Getting {bovine.actor} for {node.url}/actor" in bovine.log()
    cached = node.container.read_store.query("SELECT id FROM fed_actors")
    assert bovine.actor in {row["id"] for row in cached}

    created = schedule(node.api, owner, "menders")

    def is_create_of_event(item: Json) -> bool:
        obj = item.get("object")
        return (
            item.get("type") == "Create"
            and isinstance(obj, dict)
            and (obj.get("type"), obj.get("id")) == ("Event", created["url"])
        )

    create = bovine.wait_for_inbox(is_create_of_event)
    assert id_of(create["actor"]) == url
    event = create["object"]
    assert (event["name"], id_of(event["attributedTo"])) == (created["title"], url)
    assert datetime.fromisoformat(event["startTime"]) == datetime.fromisoformat(
        created["starts_at"]
    )
    # bovine answers 401 to an inbox POST whose signature it cannot verify: both of ours,
    # the Accept and the Create, were taken.
    delivered = deliveries_to(node, bovine, 2)
    assert [(d["state"], d["last_status"]) for d in delivered] == [("delivered", 202)] * 2, (
        delivered
    )


def test_bovine_unfollows_a_community(node: ServedNode, bovine: Bovine) -> None:
    _, community_id, url = follow_accepted(node, bovine, "weavers")

    undo_id = bovine.unfollow(url)
    c = node.container
    deadline = time.monotonic() + 15
    while not c.log.exists(InboundActivity.id_for(undo_id)):
        assert time.monotonic() < deadline, f"our node never recorded bovine's Undo {undo_id}"
        time.sleep(0.2)
    settle(node)
    assert followers(node, community_id) == []
