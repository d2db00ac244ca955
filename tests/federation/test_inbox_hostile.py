"""The inbox under hostile input: every refusal answers its status and code, and stores nothing.

"Nothing stored" means the event log's head is where it was before the request (the node is
settled first, so nothing else writes meanwhile) and no InboundActivity exists for the activity.
Real servers on loopback only: the node under test and one or two ``Peer`` servers.

Most cases share one node per database (a module fixture, with a fresh peer per test, so no test
sees another's cached key); the cases that change the node's configuration or its blocklist build
their own.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from api_helpers import assert_error, found, sign_up
from cryptography.hazmat.primitives.asymmetric import rsa
from federation_support import ServedNode, served_node
from peer import AS, Json, Peer

import conftest
from conftest import (
    PG_URL,
    LiveServer,
    free_port,
    fresh_postgres_database,
    postgres_url_of,
)
from kunveno.adapters.activitypub.inbox import MAX_BODY
from kunveno.adapters.activitypub.signatures import sign_request
from kunveno.bootstrap import build
from kunveno.domain.actor import Actor
from kunveno.domain.inbound import InboundActivity

SLUG = "menders"
Tamper = Callable[[dict[str, str], bytes], tuple[dict[str, str], bytes]]

# -- nodes and peers -------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def node(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedNode]:
    """One node per database for the module, with a community whose inbox can be written to."""
    if request.param == "sqlite":
        database_url = f"sqlite:///{tmp_path_factory.mktemp('inbox') / 'kunveno.sqlite3'}"
    else:
        if PG_URL is None:
            if os.environ.get("CI"):
                pytest.fail("KUNVENO_TEST_DATABASE_URL is not set: run ./scripts/test")
            pytest.skip("KUNVENO_TEST_DATABASE_URL is not set: run ./scripts/test for PostgreSQL")
        database_url = postgres_url_of(fresh_postgres_database())
    with served_node(database_url) as served:
        found(served.api, sign_up(served.api, "olga"), SLUG)
        yield served


@pytest.fixture
def own_node(database_url: str) -> Iterator[ServedNode]:
    """A node for this test alone, for cases that change what the node refuses."""
    with served_node(database_url) as served:
        yield served


@contextmanager
def guarded_node(database_url: str) -> Iterator[ServedNode]:
    """``served_node`` with private addresses refused, as in production (plain http allowed,
    so the address guard and nothing else is what refuses a loopback key)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = conftest.test_settings(
        database_url,
        base_url=url,
        federation_allow_http=True,
        federation_allow_private=False,
    )
    container = build(settings)
    try:
        with LiveServer(container, port), httpx.Client(base_url=url, timeout=15) as api:
            yield ServedNode(container, api, url)
    finally:
        container.close()


class QuickPeer(Peer):
    """A ``Peer`` whose server notices a shutdown within 50 ms rather than the standard 0.5 s,
    which would otherwise be most of this module's run time (a fresh peer per test)."""

    def __enter__(self) -> QuickPeer:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        super().__enter__()
        return self


@pytest.fixture
def peer() -> Iterator[Peer]:
    with QuickPeer("ada") as running:
        yield running


@pytest.fixture
def stranger() -> Iterator[Peer]:
    """A second peer: another origin (another port on loopback), with its own key."""
    with QuickPeer("eve") as running:
        yield running


# -- helpers ---------------------------------------------------------------------------------------


def head(node: ServedNode) -> int:
    return node.container.log.recorder.max_notification_id() or 0


def settle(node: ServedNode) -> int:
    """Wait until the read models, the inbox processor and the outbox have folded the whole
    log, and stayed there; the head then."""
    container = node.container
    runners = (container.projections, container.inbox_processor, container.outbox_runner)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        position = head(node)
        for runner in runners:
            assert runner.wait(position, timeout=15), "a runner did not catch up"
        if head(node) == position:
            return position
    raise AssertionError("the node did not settle")


@contextmanager
def nothing_stored(node: ServedNode, activity_id: str) -> Iterator[None]:
    """The request made inside changes neither the log nor the inbound record."""
    before = settle(node)
    yield
    assert head(node) == before, "a refused activity changed the event log"
    assert not node.container.log.exists(InboundActivity.id_for(activity_id))


def shared_inbox(node: ServedNode) -> str:
    return f"{node.url}/inbox"


def community(node: ServedNode) -> str:
    return f"{node.url}/communities/{SLUG}"


def follow_of(peer: Peer, target: str, *, actor: str | None = None) -> Json:
    return {
        "@context": AS,
        "id": peer.new_id("Follow"),
        "type": "Follow",
        "actor": actor or peer.actor,
        "object": target,
    }


def signed_headers(
    peer: Peer,
    url: str,
    body: bytes,
    *,
    key: rsa.RSAPrivateKey | None = None,
    key_id: str | None = None,
) -> dict[str, str]:
    """What ``Peer.post`` sends, for a body given as bytes (one ``json.dumps`` cannot make)."""
    return sign_request(
        method="POST",
        url=url,
        body=body,
        key_id=key_id or peer.key_id,
        private_key=key or peer.key,
        now=datetime.now(UTC),
        extra_headers={"Content-Type": "application/activity+json"},
    )


def post_bytes(peer: Peer, url: str, body: bytes) -> httpx.Response:
    return httpx.post(url, content=body, headers=signed_headers(peer, url, body), timeout=10)


def key_fetches(peer: Peer) -> list[str]:
    return [path for path, _ in peer.fetches]


def inbound_events(node: ServedNode, activity_id: str, after: int) -> list[str]:
    """Topics of the events recorded for the activity's inbound record since ``after``."""
    record = InboundActivity.id_for(activity_id)
    notifications = node.container.log.recorder.select_notifications(start=after + 1, limit=10_000)
    return [n.topic for n in notifications if n.originator_id == record]


# -- the signature ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/inbox", "/actor/inbox", "/users/olga/inbox", f"/communities/{SLUG}/inbox"],
    ids=["shared", "instance", "person", "community"],
)
def test_an_unsigned_activity_is_refused_at_every_inbox(
    node: ServedNode, peer: Peer, path: str
) -> None:
    activity = follow_of(peer, community(node))
    with nothing_stored(node, activity["id"]):
        answer = httpx.post(
            f"{node.url}{path}",
            json=activity,
            headers={"Content-Type": "application/activity+json"},
            timeout=10,
        )
        assert_error(answer, 401, "signature_missing")
    assert peer.fetches == []


def test_a_signature_by_another_key_is_refused_after_one_refetch(
    node: ServedNode, peer: Peer
) -> None:
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    activity = follow_of(peer, community(node))
    with nothing_stored(node, activity["id"]):
        answer = peer.post(shared_inbox(node), activity, key=forger, key_id=peer.key_id)
        assert_error(answer, 401, "signature_invalid")
    # Fetched, did not verify, fetched once more in case the key was rotated: twice, no more.
    assert key_fetches(peer) == [f"/users/{peer.name}"] * 2


def test_an_activity_signed_on_another_origin_is_refused_before_any_fetch(
    node: ServedNode, peer: Peer, stranger: Peer
) -> None:
    activity = follow_of(peer, community(node))
    with nothing_stored(node, activity["id"]):
        answer = stranger.post(shared_inbox(node), activity)
        assert_error(answer, 401, "signer_not_actor")
    assert peer.fetches == []
    assert stranger.fetches == []


def test_an_actor_on_the_signers_origin_who_is_not_the_signer_is_refused(
    node: ServedNode, peer: Peer
) -> None:
    mallory = f"{peer.base}/users/mallory"
    activity = follow_of(peer, community(node), actor=mallory)
    with nothing_stored(node, activity["id"]):
        answer = peer.post(shared_inbox(node), activity)
        assert_error(answer, 401, "signer_not_actor")
    # Only the signer's key was fetched; mallory was never asked.
    assert key_fetches(peer) == [f"/users/{peer.name}"]


@pytest.mark.parametrize(
    "skew", [timedelta(hours=-2), timedelta(hours=2)], ids=["two-hours-old", "two-hours-ahead"]
)
def test_a_signature_outside_the_time_window_is_refused(
    node: ServedNode, peer: Peer, skew: timedelta
) -> None:
    activity = follow_of(peer, community(node))
    with nothing_stored(node, activity["id"]):
        answer = peer.post(shared_inbox(node), activity, now=datetime.now(UTC) + skew)
        assert_error(answer, 401, "signature_expired")


def _one_character_changed(headers: dict[str, str], body: bytes) -> tuple[dict[str, str], bytes]:
    assert body.count(b'"summary": "hello"') == 1
    return headers, body.replace(b'"summary": "hello"', b'"summary": "hellp"')


def _digest_removed(headers: dict[str, str], body: bytes) -> tuple[dict[str, str], bytes]:
    return {name: value for name, value in headers.items() if name != "Digest"}, body


@pytest.mark.parametrize(
    ("tamper", "code"),
    [(_one_character_changed, "digest_mismatch"), (_digest_removed, "digest_missing")],
    ids=["body-changed", "digest-removed"],
)
def test_a_body_that_does_not_match_its_digest_is_refused(
    node: ServedNode, peer: Peer, tamper: Tamper, code: str
) -> None:
    activity = {**follow_of(peer, community(node)), "summary": "hello"}
    with nothing_stored(node, activity["id"]):
        answer = peer.post(shared_inbox(node), activity, tamper=tamper)
        assert_error(answer, 401, code)


# -- origins ---------------------------------------------------------------------------------------


def _create_elsewhere(peer: Peer, elsewhere: str) -> Json:
    note = {
        "id": f"{elsewhere}/notes/1",
        "type": "Note",
        "attributedTo": peer.actor,
        "content": "mine, honestly",
    }
    return {"type": "Create", "object": note}


def _update_elsewhere(peer: Peer, elsewhere: str) -> Json:
    return {"type": "Update", "object": _create_elsewhere(peer, elsewhere)["object"]}


def _delete_elsewhere(_: Peer, elsewhere: str) -> Json:
    return {"type": "Delete", "object": f"{elsewhere}/notes/1"}


def _create_for_another(peer: Peer, _: str) -> Json:
    note = {
        "id": f"{peer.base}/notes/2",
        "type": "Note",
        "attributedTo": f"{peer.base}/users/mallory",
        "content": "mallory said this",
    }
    return {"type": "Create", "object": note}


def _undo_of_another(peer: Peer, _: str) -> Json:
    undone = {
        "id": f"{peer.base}/activities/follow-of-mallory",
        "type": "Follow",
        "actor": f"{peer.base}/users/mallory",
        "object": f"{peer.base}/users/someone",
    }
    return {"type": "Undo", "object": undone}


@pytest.mark.parametrize(
    "shape",
    [
        _create_elsewhere,
        _update_elsewhere,
        _delete_elsewhere,
        _create_for_another,
        _undo_of_another,
    ],
    ids=[
        "create-of-a-note-elsewhere",
        "update-of-a-note-elsewhere",
        "delete-of-a-note-elsewhere",
        "create-attributed-to-another",
        "undo-of-another-actors-follow",
    ],
)
def test_an_actor_may_only_author_its_own_things(
    node: ServedNode, peer: Peer, stranger: Peer, shape: Callable[[Peer, str], Json]
) -> None:
    activity = {
        "@context": AS,
        "id": peer.new_id("Activity"),
        "actor": peer.actor,
        **shape(peer, stranger.base),
    }
    with nothing_stored(node, activity["id"]):
        answer = peer.post(shared_inbox(node), activity)
        assert_error(answer, 403, "origin_mismatch")
    assert stranger.fetches == []  # the object elsewhere was not even looked at


def test_a_delete_of_our_community_is_refused(node: ServedNode, peer: Peer) -> None:
    activity = {
        "@context": AS,
        "id": peer.new_id("Delete"),
        "type": "Delete",
        "actor": peer.actor,
        "object": community(node),
    }
    with nothing_stored(node, activity["id"]):
        answer = peer.post(f"{community(node)}/inbox", activity)
        assert_error(answer, 403, "origin_mismatch")
    served = node.api.get(community(node), headers={"Accept": "application/activity+json"})
    assert served.status_code == 200


def test_an_activity_whose_id_is_on_another_origin_is_refused_unread(
    node: ServedNode, peer: Peer, stranger: Peer
) -> None:
    activity = {**follow_of(peer, community(node)), "id": stranger.new_id("Follow")}
    with nothing_stored(node, activity["id"]):
        answer = peer.post(shared_inbox(node), activity)
        # Refused while reading the envelope (a 400, before the signature is even looked at).
        assert_error(answer, 400, "origin_mismatch")
    assert peer.fetches == []
    assert stranger.fetches == []


# -- replays ---------------------------------------------------------------------------------------


def test_a_replayed_follow_is_answered_202_and_recorded_once(node: ServedNode, peer: Peer) -> None:
    activity = follow_of(peer, community(node))
    body = json.dumps(activity).encode()
    url = shared_inbox(node)
    headers = signed_headers(peer, url, body)
    before = settle(node)

    first = httpx.post(url, content=body, headers=headers, timeout=10)
    assert first.status_code == 202, first.text
    accept = peer.wait_for("Accept", actor=community(node))
    assert accept["object"]["id"] == activity["id"]
    after_first = settle(node)
    assert inbound_events(node, activity["id"], before) == [InboundActivity.Received.TOPIC]

    # The very same request again, byte for byte, and the same activity at the community's inbox.
    again = httpx.post(url, content=body, headers=headers, timeout=10)
    assert again.status_code == 202, again.text
    assert head(node) == after_first
    elsewhere = post_bytes(peer, f"{community(node)}/inbox", body)
    assert elsewhere.status_code == 202, elsewhere.text
    assert settle(node) == after_first
    assert inbound_events(node, activity["id"], before) == [InboundActivity.Received.TOPIC]
    assert len(peer.received_of("Accept")) == 1


# -- size and shape --------------------------------------------------------------------------------


def _padded(peer: Peer, node: ServedNode, size: int) -> tuple[Json, bytes]:
    """A valid Follow whose JSON is exactly ``size`` bytes."""
    activity = {**follow_of(peer, community(node)), "summary": ""}
    room = size - len(json.dumps(activity).encode())
    activity["summary"] = "x" * room
    body = json.dumps(activity).encode()
    assert len(body) == size
    return activity, body


def test_a_body_over_one_mib_with_its_length_declared_is_refused(
    node: ServedNode, peer: Peer
) -> None:
    activity, body = _padded(peer, node, MAX_BODY + 1)
    with nothing_stored(node, activity["id"]):
        answer = post_bytes(peer, shared_inbox(node), body)
        assert answer.request.headers["content-length"] == str(MAX_BODY + 1)
        assert_error(answer, 413, "too_large")
    assert peer.fetches == []


def test_a_body_over_one_mib_sent_in_chunks_is_refused(node: ServedNode, peer: Peer) -> None:
    activity, body = _padded(peer, node, MAX_BODY + 1)
    url = shared_inbox(node)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    with nothing_stored(node, activity["id"]):
        answer = httpx.post(url, content=chunks(), headers=signed_headers(peer, url, body))
        assert "content-length" not in answer.request.headers
        assert answer.request.headers["transfer-encoding"] == "chunked"
        assert_error(answer, 413, "too_large")
    assert peer.fetches == []


def test_a_body_of_exactly_one_mib_passes_the_size_check(node: ServedNode, peer: Peer) -> None:
    activity, body = _padded(peer, node, MAX_BODY)
    with nothing_stored(node, activity["id"]):
        answer = httpx.post(shared_inbox(node), content=body, timeout=10)
        # Not too large: refused for what comes next, the missing signature.
        assert_error(answer, 401, "signature_missing")


def test_a_deeply_nested_body_is_refused(node: ServedNode, peer: Peer) -> None:
    activity = {**follow_of(peer, community(node)), "tag": "NESTED"}
    depth = 10_000
    body = json.dumps(activity).encode().replace(b'"NESTED"', b"[" * depth + b"]" * depth)
    with nothing_stored(node, activity["id"]):
        answer = post_bytes(peer, shared_inbox(node), body)
        assert_error(answer, 400, "too_deep")
    assert peer.fetches == []


def _truncated(activity: Json) -> bytes:
    return json.dumps(activity).encode()[:-5]


def _not_utf8(activity: Json) -> bytes:
    return json.dumps(activity).encode().replace(b'"Follow"', b'"Foll\xffw"')


def _in_an_array(activity: Json) -> bytes:
    return json.dumps([activity]).encode()


def _without_id(activity: Json) -> bytes:
    return json.dumps({k: v for k, v in activity.items() if k != "id"}).encode()


@pytest.mark.parametrize(
    ("shape", "code"),
    [
        (_truncated, "json_invalid"),
        (_not_utf8, "json_invalid"),
        (_in_an_array, "not_an_object"),
        (_without_id, "missing_id"),
    ],
    ids=["malformed-json", "not-utf8", "top-level-array", "missing-id"],
)
def test_a_body_that_is_no_activity_is_refused(
    node: ServedNode, peer: Peer, shape: Callable[[Json], bytes], code: str
) -> None:
    activity = follow_of(peer, community(node))
    with nothing_stored(node, activity["id"]):
        answer = post_bytes(peer, shared_inbox(node), shape(activity))
        assert_error(answer, 400, code)
    assert peer.fetches == []


# -- what the node will not fetch, and whom it will not hear ---------------------------------------


def test_a_key_at_a_private_address_is_never_fetched(database_url: str, peer: Peer) -> None:
    with guarded_node(database_url) as guarded:
        activity = follow_of(peer, f"{guarded.url}/actor")
        with nothing_stored(guarded, activity["id"]):
            answer = peer.post(shared_inbox(guarded), activity)
            assert_error(answer, 401, "key_unavailable")
    assert peer.fetches == []


@pytest.mark.parametrize("kind", ["domain", "actor"])
def test_a_blocked_sender_is_refused_before_its_key_is_fetched(
    own_node: ServedNode, peer: Peer, kind: str
) -> None:
    value = "127.0.0.1" if kind == "domain" else peer.actor
    container = own_node.container
    outcome = container.federation.block(kind, value, "spam", Actor.system())
    assert outcome.value is True
    assert container.projections.wait(container.projections.head(), timeout=15)
    activity = follow_of(peer, f"{own_node.url}/actor")
    with nothing_stored(own_node, activity["id"]):
        answer = peer.post(shared_inbox(own_node), activity)
        assert_error(answer, 403, "blocked")
    assert peer.fetches == []


# -- attribution: lists are read whole; Mobilizon group events are their server's ------------


def test_a_create_attributed_to_another_in_a_list_is_refused(node: ServedNode, peer: Peer) -> None:
    note = {
        "id": f"{peer.base}/notes/3",
        "type": "Note",
        "attributedTo": [f"{peer.base}/users/mallory"],
        "content": "mallory said this, in a list",
    }
    activity: Json = {
        "@context": AS,
        "id": peer.new_id("Create"),
        "type": "Create",
        "actor": peer.actor,
        "object": note,
    }
    with nothing_stored(node, activity["id"]):
        answer = peer.post(shared_inbox(node), activity)
        assert_error(answer, 403, "origin_mismatch")


def test_a_mobilizon_event_created_in_a_group_is_accepted(node: ServedNode, peer: Peer) -> None:
    group = f"{peer.base}/@group"
    event_id = f"{peer.base}/events/f270ae07-7991-453c-9bb7-3d2122ededae"
    event = {
        "id": event_id,
        "type": "Event",
        "actor": peer.actor,
        "attributedTo": group,
        "name": "My first event",
        "content": "<p>Repairs</p>",
        "startTime": "2030-02-12T14:08:20Z",
        "to": [group],
        "cc": [],
    }
    activity: Json = {
        "@context": AS,
        "id": f"{event_id}/activity",
        "type": "Create",
        "actor": peer.actor,
        "attributedTo": group,
        "to": [group],
        "cc": [],
        "object": event,
    }
    answer = peer.post(shared_inbox(node), activity)
    assert answer.status_code == 202, answer.text
    assert node.container.log.exists(InboundActivity.id_for(activity["id"]))
