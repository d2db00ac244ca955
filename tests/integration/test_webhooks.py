"""An agent's webhook, delivered to a real receiving server on loopback: signed (the receiver
checks the HMAC itself, from the documented recipe), retried after failures, in log order,
and resumed by a restarted worker without loss or repeats; paused while the agent is
suspended, dropped when it is removed, refused on private addresses unless the node allows.

What should arrive is read from the log itself. Waits are bounded polls; nothing is timed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from uuid import UUID

import httpx
import pytest
from api_helpers import Headers, Json, assert_error, found, join, sign_up

from conftest import LiveServer
from conftest import test_settings as settings_for
from kunveno.adapters.agents.webhooks import sign, verify
from kunveno.bootstrap import Container, build
from kunveno.domain.post import Post


@dataclass(frozen=True)
class Attempt:
    status: int
    signed: bool  # the signature checked out with the secret, over this very body
    stamp: int
    positions: list[int]


@dataclass
class Receiver:
    """A webhook endpoint: answers ``failures`` first, then 200; keeps every attempt."""

    failures: list[int] = field(default_factory=list)
    secret: str = ""
    attempts: list[Attempt] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def handle(self, headers: dict[str, str], body: bytes) -> int:
        stamp = headers.get("x-kunveno-timestamp", "")
        expected = hmac.new(self.secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
        signed = hmac.compare_digest(
            f"sha256={expected.hexdigest()}", headers.get("x-kunveno-signature", "")
        )
        positions = [event["position"] for event in json.loads(body)["events"]]
        with self.lock:
            status = self.failures.pop(0) if self.failures else 200
            self.attempts.append(Attempt(status, signed, int(stamp or 0), positions))
        return status

    @property
    def accepted(self) -> list[int]:
        """Positions of every event in a batch answered 2xx, in the order they came."""
        with self.lock:
            return [p for a in self.attempts if a.status == 200 for p in a.positions]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    got = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status = got.handle({k.lower(): v for k, v in self.headers.items()}, body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    got.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield got
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@dataclass
class World:
    api: httpx.Client
    node: Container
    admin: Headers
    member: Headers
    agent: Json
    agent_headers: Headers
    community_id: UUID


def settings(database_url: str, *, allow_private: bool = True) -> Any:
    return settings_for(
        database_url, federation_allow_http=True, federation_allow_private=allow_private
    )


@contextmanager
def world_of(database_url: str, *, allow_private: bool = True) -> Iterator[World]:
    node = build(settings(database_url, allow_private=allow_private))
    try:
        with (
            LiveServer(node) as server,
            httpx.Client(base_url=server.url, timeout=30) as api,
        ):
            admin = sign_up(api, "ada")
            community = found(api, admin, "menders")
            member = sign_up(api, "bea")
            join(api, "menders", member)
            made = api.post(
                "/api/v1/communities/menders/agents",
                json={"name": "Hooked", "scopes": ["posts:read", "stream:read"]},
                headers=admin,
            )
            assert made.status_code == 201, made.text
            agent_headers = {"Authorization": f"Bearer {made.json()['token']}"}
            yield World(
                api,
                node,
                admin,
                member,
                made.json()["agent"],
                agent_headers,
                UUID(community["id"]),
            )
    finally:
        node.close()


@pytest.fixture
def world(database_url: str) -> Iterator[World]:
    with world_of(database_url) as made:
        yield made


def set_hook(w: World, receiver: Receiver, **extra: Any) -> Json:
    answer = w.api.put(
        f"/api/v1/agents/{w.agent['id']}/webhook",
        json={"url": receiver.url, **extra},
        headers=w.admin,
    )
    assert answer.status_code == 200, answer.text
    body: Json = answer.json()
    assert body["secret"].startswith("whsec_")
    receiver.secret = body["secret"]
    return body


def post(w: World, content: str) -> None:
    answer = w.api.post(
        "/api/v1/communities/menders/posts", json={"content": content}, headers=w.admin
    )
    assert answer.status_code == 201, answer.text


def posts_after(w: World, after: int) -> list[int]:
    """Positions of the community's posts after ``after``, read from the log itself."""
    positions, start = [], after + 1
    while page := w.node.log.recorder.select_notifications(start=start, limit=500):
        for notification in page:
            event = w.node.log.mapper.to_domain_event(notification)
            if isinstance(event, Post.Published) and event.community_id == w.community_id:
                positions.append(notification.id)
        start = page[-1].id + 1
    return positions


def eventually(check: Callable[[], bool], what: str, tries: int = 600) -> None:
    """Poll ``check`` (bounded: ``tries`` times a tenth of a second apart)."""
    for _ in range(tries):
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"never happened: {what}")


def hook(w: World) -> httpx.Response:
    return w.api.get(f"/api/v1/agents/{w.agent['id']}/webhook", headers=w.admin)


# -- delivery ----------------------------------------------------------------------------------


def test_batches_arrive_signed_in_order_after_failures_are_retried(
    world: World, receiver: Receiver
) -> None:
    w = world
    receiver.failures = [500, 500]
    start = set_hook(w, receiver)["position"]
    for n in range(5):
        post(w, f"post {n}")
    expected = posts_after(w, start)
    eventually(lambda: receiver.accepted == expected, "every post delivered")

    statuses = [a.status for a in receiver.attempts]
    assert statuses[:3] == [500, 500, 200]
    assert all(a.signed for a in receiver.attempts)
    assert all(abs(a.stamp - time.time()) < 300 for a in receiver.attempts)
    # A failed batch is sent again from the same event: nothing skipped, nothing reordered.
    assert receiver.attempts[0].positions[0] == receiver.attempts[2].positions[0] == expected[0]
    assert len(expected) == 5
    shown = hook(w).json()
    assert shown["position"] == expected[-1]
    assert shown["last_status"] == 200
    assert "secret" not in shown


def test_a_restarted_worker_resumes_without_loss_or_repeats(
    database_url: str, world: World, receiver: Receiver
) -> None:
    w = world
    start = set_hook(w, receiver)["position"]
    for n in range(3):
        post(w, f"before {n}")
    eventually(lambda: len(receiver.accepted) == 3, "the first posts delivered")
    w.node.webhooks.stop()  # the worker goes down; the node goes on
    for n in range(4):
        post(w, f"while down {n}")
    restarted = build(settings(database_url))  # a new process on the same database
    try:
        restarted.webhooks.start()
        expected = posts_after(w, start)
        eventually(lambda: len(receiver.accepted) >= len(expected), "the rest delivered")
    finally:
        restarted.close()

    assert len(expected) == 7
    assert receiver.accepted == expected
    assert all(a.signed and a.status == 200 for a in receiver.attempts)


def test_paused_while_the_agent_is_suspended_and_dropped_when_it_is_removed(
    world: World, receiver: Receiver
) -> None:
    w = world
    w.node.webhooks.stop()  # driven by hand here: each run is the test's own call
    start = set_hook(w, receiver)["position"]
    agent = f"/api/v1/agents/{w.agent['id']}"
    assert w.api.post(f"{agent}/suspend", headers=w.admin).status_code == 200
    post(w, "while suspended")
    while w.node.webhooks.run_due():
        pass

    assert receiver.attempts == []
    assert hook(w).json()["last_error"] == "paused: this agent is suspended"
    assert w.api.post(f"{agent}/resume", headers=w.admin).status_code == 200
    eventually(
        lambda: w.node.webhooks.run_due() >= 0 and receiver.accepted == posts_after(w, start),
        "the post held back while suspended delivered once resumed",
    )
    assert len(receiver.accepted) == 1
    assert w.api.delete(agent, headers=w.admin).status_code == 204
    eventually(
        lambda: w.node.webhooks.run_due() >= 0 and hook(w).status_code == 404,
        "the removed agent's webhook dropped",
    )


def test_a_private_address_is_refused_unless_the_node_allows_it(
    database_url: str, receiver: Receiver
) -> None:
    with world_of(database_url, allow_private=False) as w:
        set_hook(w, receiver)
        post(w, "for nobody")
        eventually(
            lambda: "address_refused" in (hook(w).json()["last_error"] or ""),
            "the loopback address refused",
        )

    assert receiver.attempts == []


# -- the routes --------------------------------------------------------------------------------


def test_the_webhook_routes_check_their_input_and_who_asks(
    world: World, receiver: Receiver
) -> None:
    w = world
    path = f"/api/v1/agents/{w.agent['id']}/webhook"
    bad = w.api.put(path, json={"url": "ftp://example.org/x"}, headers=w.admin)
    assert_error(bad, 422, "invalid_value")
    unknown_field = w.api.put(path, json={"url": receiver.url, "x": 1}, headers=w.admin)
    assert unknown_field.status_code == 422
    by_member = w.api.put(path, json={"url": receiver.url}, headers=w.member)
    assert_error(by_member, 403, "forbidden")
    by_agent = w.api.put(path, json={"url": receiver.url}, headers=w.agent_headers)
    assert_error(by_agent, 403, "forbidden")
    assert_error(hook(w), 404, "not_found")

    first = set_hook(w, receiver)
    second = set_hook(w, receiver)
    assert first["secret"] != second["secret"]
    assert second["position"] == first["position"]  # a new secret keeps the place
    assert "secret" not in hook(w).json()
    assert w.api.delete(path, headers=w.admin).status_code == 204
    assert_error(hook(w), 404, "not_found")

    blind = w.api.post(
        "/api/v1/communities/menders/agents",
        json={"name": "Blind", "scopes": ["posts:read"]},
        headers=w.admin,
    ).json()["agent"]
    refused = w.api.put(
        f"/api/v1/agents/{blind['id']}/webhook", json={"url": receiver.url}, headers=w.admin
    )
    assert_error(refused, 409, "conflict")


def test_verify_accepts_what_is_signed_and_nothing_else() -> None:
    body, now = b'{"events":[]}', time.time()
    stamp = str(int(now))
    signature = sign("whsec_x", stamp, body)

    assert verify("whsec_x", stamp, body, signature, now=now)
    assert not verify("whsec_y", stamp, body, signature, now=now)
    assert not verify("whsec_x", stamp, body + b" ", signature, now=now)
    assert not verify("whsec_x", stamp, body, signature, now=now + 301)
    assert not verify("whsec_x", "soon", body, signature, now=now)
