"""Delivery to peers that fail: retries on schedule, gone inboxes, refusals, Retry-After,
timeouts, the circuit breaker, a restart mid-queue, and signatures on everything sent.

Deterministic: the node runs on a clock the test moves by hand, its background workers are
never started, and the test drives the runners and the delivery worker itself. The peers are
real HTTP servers on loopback.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any

import httpx
import pytest
import uvicorn
from api_helpers import Headers, found, schedule, sign_up
from peer import AS, Peer

from conftest import free_port
from conftest import test_settings as settings_for
from kunveno.adapters.activitypub.delivery import (
    BREAKER_FAILURES,
    BREAKER_PAUSE,
    MAX_RETRY_AFTER,
    PER_HOST,
    RETRY_SCHEDULE,
    UNAVAILABLE_AFTER_DAYS,
    DeliveryWorker,
)
from kunveno.adapters.activitypub.fetching import FetchPolicy, SafeHttp
from kunveno.adapters.activitypub.signatures import load_public_key, parse_signature, verify_request
from kunveno.adapters.http.app import create_app
from kunveno.bootstrap import Container, build
from kunveno.projections.store import Row, from_timestamp, timestamp
from kunveno.settings import Settings

SLUG = "menders"


class HandClock:
    """A clock the test moves forward by hand (it starts at the real time: signatures on
    what peers send us are checked against it)."""

    def __init__(self) -> None:
        self._now = datetime.now(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, by: timedelta) -> None:
        with self._lock:
            self._now += by

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._now = moment


@dataclass
class Node:
    container: Container
    api: httpx.Client
    url: str
    clock: HandClock
    # A delivery worker on the node's tables without jitter: next_at is exact.
    worker: DeliveryWorker

    @property
    def community(self) -> str:
        return f"{self.url}/communities/{SLUG}"

    def settle(self) -> None:
        settle(self.container)

    def deliveries(self) -> list[Row]:
        return deliveries(self.container)

    def delivery(self, kind: str) -> Row:
        rows = [row for row in self.deliveries() if row["type"] == kind]
        assert len(rows) == 1, rows
        return rows[0]

    def host_row(self, host: str) -> Row | None:
        rows = self.container.read_store.query("SELECT * FROM fed_hosts WHERE host = %s", (host,))
        return rows[0] if rows else None


def settle(c: Container) -> None:
    """Fold everything logged: read models, received activities, the outbox queue."""
    c.projections.catch_up()
    c.inbox_processor.catch_up()
    c.projections.catch_up()
    c.outbox_runner.catch_up()


def deliveries(c: Container) -> list[Row]:
    return c.read_store.query(
        "SELECT d.*, a.type FROM fed_deliveries d "
        "JOIN fed_activities a ON a.id = d.activity_id ORDER BY d.created_at, d.id"
    )


@contextmanager
def serving(container: Container, port: int) -> Iterator[httpx.Client]:
    """The node's HTTP app on ``port`` without its background workers (the test drives them)."""
    config = uvicorn.Config(
        create_app(container, run_projections=False),
        host="127.0.0.1",
        port=port,
        log_level="warning",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=15) as api:
            yield api
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def node_settings(database_url: str, port: int) -> Settings:
    return settings_for(
        database_url,
        base_url=f"http://127.0.0.1:{port}",
        federation_allow_http=True,
        federation_allow_private=True,
    )


@contextmanager
def running_node(database_url: str, port: int, clock: HandClock) -> Iterator[Node]:
    container = build(node_settings(database_url, port), clock=clock)
    worker = DeliveryWorker(
        container.read_store, container.http, container.keys, clock, jitter=lambda: 1.0
    )
    try:
        with serving(container, port) as api:
            yield Node(container, api, f"http://127.0.0.1:{port}", clock, worker)
    finally:
        worker.stop()
        container.close()


@pytest.fixture
def node(database_url: str) -> Iterator[Node]:
    with running_node(database_url, free_port(), HandClock()) as running:
        yield running


@pytest.fixture
def peer() -> Iterator[Peer]:
    with Peer() as running:
        yield running


class ControlledPeer(Peer):
    """A peer whose inbox can also send ``Retry-After`` and answer late (or never, in time)."""

    def __init__(self) -> None:
        self.retry_after: str | None = None
        self.delay = 0.0
        self.release = threading.Event()
        super().__init__("bea", require_signed_get=False)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path.split("#")[0] != f"/users/{peer.name}":
                    self._answer(404, b"{}")
                else:
                    body = json.dumps(peer.actor_document()).encode()
                    self._answer(200, body, "application/activity+json")

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with peer._lock:
                    peer.received.append((self.path, headers, json.loads(raw)))
                if peer.delay:
                    peer.release.wait(peer.delay)
                with suppress(OSError):  # the sender may have given up waiting
                    self._answer(peer.inbox_status, b"")

            def _answer(self, status: int, body: bytes, kind: str = "application/json") -> None:
                self.send_response(status)
                if status >= 400 and peer.retry_after is not None:
                    self.send_header("Retry-After", peer.retry_after)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler

    def __enter__(self) -> ControlledPeer:
        super().__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        super().__exit__(*exc)


# -- helpers ------------------------------------------------------------------------------


def followed(node: Node, peer: Peer) -> Headers:
    """An open community the peer follows: its Accept is queued (not sent). The owner's
    headers."""
    owner = sign_up(node.api, "olga")
    found(node.api, owner, SLUG)
    _, answer = peer.follow(node.community, f"{node.community}/inbox")
    assert answer.status_code == 202, answer.text
    node.settle()
    accept = node.delivery("Accept")
    assert (accept["state"], accept["attempts"], accept["inbox"]) == ("pending", 0, peer.inbox)
    assert accept["key_id"] == f"{node.community}#main-key"
    return owner


def queue_gathering(node: Node, owner: Headers) -> str:
    """Schedule a gathering: a Create for the peer's shared inbox is queued. Its activity id."""
    before = {row["activity_id"] for row in node.deliveries()}
    schedule(node.api, owner, SLUG)
    node.settle()
    new = [row for row in node.deliveries() if row["activity_id"] not in before]
    assert [(row["type"], row["state"], row["attempts"]) for row in new] == [
        ("Create", "pending", 0)
    ]
    activity_id: str = new[0]["activity_id"]
    return activity_id


def host_of(peer: Peer) -> str:
    return peer.base.removeprefix("http://")


def next_at(row: Row) -> datetime:
    return from_timestamp(row["next_at"])


def posts(peer: Peer) -> int:
    return len(peer.received)


# -- 1. retried on schedule -----------------------------------------------------------------


def test_a_failing_inbox_is_retried_after_the_first_delay_and_then_delivered(
    node: Node, peer: Peer
) -> None:
    peer.inbox_status = 500
    followed(node, peer)
    worker = node.container.deliveries  # the node's own, with its real ±20 % jitter
    sent_at = node.clock.now()

    assert worker.run_due() == 1
    row = node.delivery("Accept")
    assert (row["state"], row["attempts"], row["last_status"]) == ("pending", 1, 500)
    assert row["lease_until"] is None
    first = RETRY_SCHEDULE[0]
    assert first == timedelta(seconds=60)
    assert sent_at + first * 0.8 <= next_at(row) <= sent_at + first * 1.2
    assert posts(peer) == 1

    # Not due yet: nothing is sent, not even a second before.
    assert worker.run_due() == 0
    node.clock.set(next_at(row) - timedelta(seconds=1))
    assert worker.run_due() == 0
    assert posts(peer) == 1

    node.clock.set(next_at(row) + timedelta(seconds=1))
    peer.inbox_status = 202
    assert worker.run_due() == 1
    row = node.delivery("Accept")
    assert (row["state"], row["attempts"], row["last_status"]) == ("delivered", 2, 202)
    assert row["last_error"] is None
    assert posts(peer) == 2
    assert [a["type"] for _, _, a in peer.received] == ["Accept", "Accept"]
    assert node.host_row(host_of(peer)) is None  # a success clears the host's failures

    # Delivered is final.
    node.clock.advance(timedelta(days=3))
    assert worker.run_due() == 0
    assert posts(peer) == 2


# -- 2. the whole schedule ------------------------------------------------------------------


def test_after_the_whole_schedule_the_delivery_is_abandoned(node: Node, peer: Peer) -> None:
    peer.inbox_status = 503
    followed(node, peer)
    started = node.clock.now()

    for attempt, delay in enumerate(RETRY_SCHEDULE, start=1):
        assert node.worker.run_due() == 1
        row = node.delivery("Accept")
        assert (row["state"], row["attempts"], row["last_status"]) == ("pending", attempt, 503)
        assert next_at(row) == node.clock.now() + delay
        # Not a moment early.
        node.clock.set(next_at(row) - timedelta(microseconds=1))
        assert node.worker.run_due() == 0
        node.clock.set(next_at(row))

    assert node.worker.run_due() == 1
    row = node.delivery("Accept")
    attempts = len(RETRY_SCHEDULE) + 1
    assert (row["state"], row["attempts"], row["last_status"]) == ("abandoned", attempts, 503)
    assert posts(peer) == attempts

    span = sum(RETRY_SCHEDULE, timedelta())
    assert span >= timedelta(days=2)
    assert node.clock.now() - started == span

    node.clock.advance(timedelta(days=30))
    assert node.worker.run_due() == 0
    assert posts(peer) == attempts


# -- 3. gone --------------------------------------------------------------------------------


def test_410_marks_the_inbox_gone_with_what_else_was_pending_for_it(node: Node, peer: Peer) -> None:
    owner = followed(node, peer)
    assert node.worker.run_due() == 1  # the Accept, to the actor's own inbox
    assert node.delivery("Accept")["state"] == "delivered"

    peer.inbox_status = 500
    first = queue_gathering(node, owner)
    assert node.worker.run_due() == 1  # pending, due again in a minute
    second = queue_gathering(node, owner)  # due now

    peer.inbox_status = 410
    assert node.worker.run_due() == 1  # only the second is due
    rows = {row["activity_id"]: row for row in node.deliveries()}
    assert (rows[second]["state"], rows[second]["attempts"], rows[second]["last_status"]) == (
        "gone",
        1,
        410,
    )
    # The first, to the same shared inbox, is never tried again.
    assert (rows[first]["state"], rows[first]["attempts"]) == ("gone", 1)
    assert rows[first]["inbox"] == rows[second]["inbox"] == peer.shared_inbox
    assert node.delivery("Accept")["state"] == "delivered"
    assert posts(peer) == 3

    node.clock.advance(timedelta(days=3))
    assert node.worker.run_due() == 0
    assert posts(peer) == 3


def test_nothing_queued_after_a_410_is_sent_to_that_inbox(node: Node, peer: Peer) -> None:
    owner = followed(node, peer)
    assert node.worker.run_due() == 1
    peer.inbox_status = 410
    queue_gathering(node, owner)
    assert node.worker.run_due() == 1
    assert posts(peer) == 2

    schedule(node.api, owner, SLUG)
    node.settle()
    node.worker.run_due()
    assert posts(peer) == 2, "a POST reached an inbox that answered 410 Gone"
    creates = [row for row in node.deliveries() if row["type"] == "Create"]
    assert [row["state"] for row in creates] == ["gone", "gone"]


# -- 4. refused for good, or retried ----------------------------------------------------------


REFUSED = (400, 403, 404, 422)
RETRIED = (401, 408, 429, 500, 502)


def test_4xx_refusals_are_abandoned_at_once_and_401_408_429_5xx_retried(
    node: Node, peer: Peer
) -> None:
    owner = followed(node, peer)
    assert node.worker.run_due() == 1  # the Accept
    sent_at = node.clock.now()
    activities: dict[int, str] = {}
    for status in REFUSED + RETRIED:
        peer.inbox_status = status
        activities[status] = queue_gathering(node, owner)
        assert node.worker.run_due() == 1
        row = next(r for r in node.deliveries() if r["activity_id"] == activities[status])
        assert (row["attempts"], row["last_status"]) == (1, status)
        assert str(status) in row["last_error"]
        if status in REFUSED:
            assert row["state"] == "abandoned"
        else:
            assert row["state"] == "pending"
            assert next_at(row) == sent_at + RETRY_SCHEDULE[0]

    peer.inbox_status = 202
    node.clock.advance(timedelta(days=3))
    # At most PER_HOST requests to one host in a run: the rest go in the next.
    assert node.worker.run_due() == min(len(RETRIED), PER_HOST)
    assert node.worker.run_due() == len(RETRIED) - PER_HOST
    assert node.worker.run_due() == 0
    states = {row["activity_id"]: row["state"] for row in node.deliveries()}
    assert {s: states[a] for s, a in activities.items()} == {
        **dict.fromkeys(REFUSED, "abandoned"),
        **dict.fromkeys(RETRIED, "delivered"),
    }
    sent = [activity["id"] for _, _, activity in peer.received]
    for status, activity_id in activities.items():
        assert sent.count(activity_id) == (1 if status in REFUSED else 2), status


# -- 5. Retry-After -------------------------------------------------------------------------


def test_429_with_retry_after_waits_as_asked_up_to_a_day(node: Node) -> None:
    with ControlledPeer() as peer:
        peer.inbox_status = 429
        peer.retry_after = "3600"
        owner = followed(node, peer)
        t0 = node.clock.now()
        assert node.worker.run_due() == 1
        accept = node.delivery("Accept")
        assert (accept["state"], accept["attempts"], accept["last_status"]) == ("pending", 1, 429)
        assert next_at(accept) == t0 + timedelta(seconds=3600)

        peer.retry_after = "864000"  # ten days: capped at one
        create = queue_gathering(node, owner)
        assert node.worker.run_due() == 1
        row = next(r for r in node.deliveries() if r["activity_id"] == create)
        assert (row["state"], row["attempts"], row["last_status"]) == ("pending", 1, 429)
        assert next_at(row) == t0 + MAX_RETRY_AFTER == t0 + timedelta(hours=24)

        peer.inbox_status = 202
        for due in (next_at(accept), next_at(row)):
            node.clock.set(due - timedelta(seconds=1))
            assert node.worker.run_due() == 0
            node.clock.set(due)
            assert node.worker.run_due() == 1
        assert {r["state"] for r in node.deliveries()} == {"delivered"}
        assert posts(peer) == 4


# -- 6. timeout -----------------------------------------------------------------------------


def test_an_inbox_that_does_not_answer_in_time_is_retried(node: Node) -> None:
    http = SafeHttp(
        FetchPolicy(allow_http=True, allow_private=True, deadline=1.0, read_timeout=0.5),
        user_agent="t",
    )
    worker = DeliveryWorker(
        node.container.read_store, http, node.container.keys, node.clock, jitter=lambda: 1.0
    )
    try:
        with ControlledPeer() as peer:
            followed(node, peer)
            peer.delay = 5.0
            started = time.monotonic()
            assert worker.run_due() == 1
            assert time.monotonic() - started < 3
            row = node.delivery("Accept")
            assert (row["state"], row["attempts"], row["last_status"]) == ("pending", 1, None)
            assert "timeout" in row["last_error"].lower()
            assert next_at(row) == node.clock.now() + RETRY_SCHEDULE[0]
            assert posts(peer) == 1
    finally:
        worker.stop()
        http.close()


# -- 7. the circuit breaker -----------------------------------------------------------------


def test_ten_failures_in_a_row_pause_the_host_for_a_minute(node: Node, peer: Peer) -> None:
    peer.inbox_status = 500
    owner = followed(node, peer)  # the Accept, to the actor's inbox
    queue_gathering(node, owner)  # a Create, to the shared inbox: the same host
    host = host_of(peer)

    rounds = BREAKER_FAILURES // 2
    for attempt in range(1, rounds + 1):
        assert node.worker.run_due() == 2
        assert [row["attempts"] for row in node.deliveries()] == [attempt, attempt]
        health = node.host_row(host)
        assert health is not None
        if attempt < rounds:
            assert (health["failures"], health["paused_until"]) == (2 * attempt, None)
            node.clock.advance(RETRY_SCHEDULE[attempt - 1])

    paused_at = node.clock.now()
    health = node.host_row(host)
    assert health is not None
    assert health["paused_until"] == timestamp(paused_at + BREAKER_PAUSE)
    assert health["failures"] == 0
    assert all(row["state"] == "pending" for row in node.deliveries())

    # Something new for the host, due now: held back while the host is paused.
    peer.inbox_status = 202
    third = queue_gathering(node, owner)
    sent = posts(peer)
    assert node.worker.run_due() == 0
    node.clock.set(paused_at + BREAKER_PAUSE - timedelta(seconds=1))
    assert node.worker.run_due() == 0
    assert posts(peer) == sent

    node.clock.set(paused_at + BREAKER_PAUSE + timedelta(seconds=1))
    assert node.worker.run_due() == 1
    assert posts(peer) == sent + 1
    assert peer.received[-1][2]["id"] == third
    assert node.host_row(host) is None


def test_the_failed_last_attempt_of_the_schedule_counts_as_a_host_failure(
    node: Node, peer: Peer
) -> None:
    peer.inbox_status = 500
    followed(node, peer)
    for _ in range(len(RETRY_SCHEDULE) + 1):
        assert node.worker.run_due() == 1
        node.clock.set(next_at(node.delivery("Accept")))
    assert node.delivery("Accept")["state"] == "abandoned"
    # Ten 500s in a row from the host: by the breaker's rule it is paused.
    assert node.host_row(host_of(peer)) is not None


# -- 8. a restart mid-queue -----------------------------------------------------------------


def test_a_restarted_node_sends_what_was_pending_and_nothing_twice(
    database_url: str, peer: Peer
) -> None:
    port = free_port()
    clock = HandClock()
    with running_node(database_url, port, clock) as node:
        owner = followed(node, peer)
        assert node.worker.run_due() == 1
        assert node.delivery("Accept")["state"] == "delivered"
        create = queue_gathering(node, owner)
        queued = node.deliveries()

    clock.advance(timedelta(minutes=5))
    container = build(node_settings(database_url, port), clock=clock)
    try:
        settle(container)  # following the log again queues nothing again
        assert [(row["id"], row["state"]) for row in deliveries(container)] == [
            (row["id"], row["state"]) for row in queued
        ]
        assert container.deliveries.run_due() == 1
        clock.advance(timedelta(days=3))
        assert container.deliveries.run_due() == 0
        assert {row["type"]: row["state"] for row in deliveries(container)} == {
            "Accept": "delivered",
            "Create": "delivered",
        }
    finally:
        container.close()

    sent = [activity["id"] for _, _, activity in peer.received]
    assert len(sent) == 2
    assert sorted(sent) == sorted({row["activity_id"] for row in queued})
    assert create in sent


# -- 9. signatures --------------------------------------------------------------------------


def test_every_delivery_is_signed_by_the_community_key(node: Node, peer: Peer) -> None:
    owner = followed(node, peer)
    queue_gathering(node, owner)
    assert node.worker.run_due() == 2
    peer.inbox_status = 500
    queue_gathering(node, owner)
    assert node.worker.run_due() == 1
    node.clock.advance(RETRY_SCHEDULE[0])
    peer.inbox_status = 202
    assert node.worker.run_due() == 1  # a retry is signed afresh

    assert len(peer.received) == 4
    key_id = f"{node.community}#main-key"
    actor = node.api.get(node.community, headers={"Accept": "application/activity+json"}).json()
    assert actor["publicKey"]["id"] == key_id
    public_key = load_public_key(actor["publicKey"]["publicKeyPem"])
    dates = []
    for path, headers, body in peer.received:
        assert "signature" in headers
        parsed = parse_signature(headers)
        assert parsed.key_id == key_id
        verify_request(
            parsed,
            method="POST",
            path=path,
            query="",
            headers=headers,
            body=json.dumps(body, separators=(",", ":")).encode(),
            public_key=public_key,
            now=node.clock.now(),
            scheme="http",
        )
        dates.append(headers["date"])
    assert dates[-1] != dates[-2]  # the retry carries the time it was sent


def test_a_host_failing_on_seven_days_is_unavailable_until_it_speaks(
    node: Node, peer: Peer
) -> None:
    """Mastodon's rule: failures on 7 distinct days make a host unavailable (no request is
    even tried), and a verified activity from it makes it available again."""
    peer.inbox_status = 500
    owner = followed(node, peer)
    for day in range(UNAVAILABLE_AFTER_DAYS):
        assert node.worker.run_due() == 1, day
        node.clock.advance(timedelta(days=1))
    assert node.worker.is_unavailable(host_of(peer))

    peer.inbox_status = 202
    queue_gathering(node, owner)
    sent = posts(peer)
    node.worker.run_due()
    assert posts(peer) == sent  # nothing tried while unavailable
    assert {row["type"]: row["state"] for row in node.deliveries()}["Create"] == "abandoned"

    like = {
        "@context": AS,
        "id": peer.new_id("Like"),
        "type": "Like",
        "actor": peer.actor,
        "object": node.community,
    }
    answer = peer.post(f"{node.url}/inbox", like, now=node.clock.now())
    assert answer.status_code == 202, answer.text
    assert not node.worker.is_unavailable(host_of(peer))
    queue_gathering(node, owner)
    node.worker.run_due()
    assert posts(peer) == sent + 1
