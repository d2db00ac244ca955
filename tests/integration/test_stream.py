"""The stream of a community's events (Server-Sent Events), through a real server and a
streaming HTTP client: what each watcher sees, resuming without gaps or repeats while others
write, and who may watch at all.

What a stream should carry is read from the log itself (every stored event, decoded), never
from the trail the stream is built on. Waits are bounded (the client's read timeout, a
bounded number of rounds); nothing here measures time.
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from api_helpers import Headers, Json, assert_error, found, join, register, schedule, sign_up

from conftest import LiveServer
from conftest import test_settings as settings_for
from kunveno.bootstrap import Container, build
from kunveno.domain.actor import Actor
from kunveno.domain.agent import Agent
from kunveno.domain.base import DomainEvent
from kunveno.domain.gathering import Gathering
from kunveno.domain.post import Post

READ_TIMEOUT = 30.0  # a stream idle this long has failed (heartbeats come every 15 s)


@dataclass(frozen=True)
class Sse:
    id: int | None
    event: str
    data: Any


class SseReader:
    """Reads ``text/event-stream``: each dispatched message (an ``id:``-only one too)."""

    def __init__(self, response: httpx.Response) -> None:
        self._lines = response.iter_lines()
        self.last_id: int | None = None

    def next(self) -> Sse | None:
        """The next message; None when the server ended the stream."""
        fields: dict[str, str] = {}
        for line in self._lines:
            if not line:
                if fields:
                    return self._dispatch(fields)
                continue
            if line.startswith(":"):
                continue  # a comment (the heartbeat)
            name, _, value = line.partition(":")
            fields[name] = fields.get(name, "") + value.removeprefix(" ")
        return None

    def _dispatch(self, fields: dict[str, str]) -> Sse:
        if "id" in fields:
            self.last_id = int(fields["id"])
        data = json.loads(fields["data"]) if "data" in fields else None
        return Sse(self.last_id if "id" in fields else None, fields.get("event", ""), data)

    def events(self, count: int) -> list[Sse]:
        """The next ``count`` events (messages with data)."""
        found: list[Sse] = []
        while len(found) < count:
            message = self.next()
            assert message is not None, f"the stream ended after {found}"
            if message.data is not None:
                found.append(message)
        return found

    def until(self, done: Callable[[list[Sse]], bool]) -> list[Sse]:
        found: list[Sse] = []
        while not done(found):
            found.extend(self.events(1))
        return found


@dataclass
class World:
    api: httpx.Client
    node: Container
    admin: Headers
    member: Headers
    slug: str
    community_id: UUID


@pytest.fixture
def world(node: Container) -> Iterator[World]:
    with (
        LiveServer(node) as server,
        httpx.Client(base_url=server.url, timeout=READ_TIMEOUT) as api,
    ):
        admin = sign_up(api, "ada")
        community = found(api, admin, "menders")
        member = sign_up(api, "bea")
        join(api, "menders", member)
        yield World(api, node, admin, member, "menders", UUID(community["id"]))


def make_agent(w: World, *scopes: str, slug: str | None = None) -> tuple[Json, Headers]:
    answer = w.api.post(
        f"/api/v1/communities/{slug or w.slug}/agents",
        json={"name": "Watcher", "scopes": list(scopes)},
        headers=w.admin,
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    return body["agent"], {"Authorization": f"Bearer {body['token']}"}


@contextmanager
def watching(
    w: World, headers: Headers, *, after: int | None = None, last_id: int | None = None
) -> Iterator[SseReader]:
    params = {} if after is None else {"after": after}
    if last_id is not None:
        headers = {**headers, "Last-Event-ID": str(last_id)}
    with w.api.stream(
        "GET", f"/api/v1/communities/{w.slug}/stream", params=params, headers=headers
    ) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield SseReader(response)


def post(w: World, headers: Headers, content: str) -> str:
    answer = w.api.post(
        f"/api/v1/communities/{w.slug}/posts", json={"content": content}, headers=headers
    )
    assert answer.status_code == 201, answer.text
    post_id: str = answer.json()["id"]
    return post_id


def logged(node: Container, keep: Callable[[DomainEvent], bool], after: int = 0) -> list[int]:
    """Positions of the stored events ``keep`` picks, read from the log itself."""
    positions, start = [], after + 1
    while page := node.log.recorder.select_notifications(start=start, limit=500):
        for notification in page:
            event = node.log.mapper.to_domain_event(notification)
            if isinstance(event, DomainEvent) and keep(event):
                positions.append(notification.id)
        start = page[-1].id + 1
    return positions


def posts_in(w: World) -> Callable[[DomainEvent], bool]:
    return lambda e: isinstance(e, Post.Published) and e.community_id == w.community_id


def head(w: World) -> int:
    return int(w.node.log.recorder.max_notification_id() or 0)


# -- what each watcher sees -------------------------------------------------------------------


def test_an_agent_with_posts_read_sees_posts_and_never_anonymous_registrations(
    world: World,
) -> None:
    w = world
    _, agent = make_agent(w, "posts:read", "stream:read")
    gathering = schedule(w.api, w.admin, w.slug)
    register(w.api, gathering["id"], email="anon@example.org")
    post(w, w.admin, "first")
    register(w.api, gathering["id"], w.member)
    marker = post(w, w.member, "last")
    with watching(w, agent, after=0) as stream:
        seen = stream.until(lambda got: any(e.data["object_id"] == marker for e in got))

    assert [e.id for e in seen] == logged(w.node, posts_in(w))
    assert {e.event for e in seen} == {"kunveno.post.published"}
    assert [e.data["payload"]["content"] for e in seen] == ["first", "last"]
    assert all(e.data["position"] == e.id and e.data["scope"] == "posts:read" for e in seen)
    assert "anon@example.org" not in json.dumps([e.data for e in seen])


def test_registrations_read_shows_named_participants_only(world: World) -> None:
    w = world
    _, agent = make_agent(w, "registrations:read", "stream:read")
    gathering = schedule(w.api, w.admin, w.slug, capacity=10)
    register(w.api, gathering["id"], email="anon@example.org")
    named = register(w.api, gathering["id"], w.member)
    register(w.api, gathering["id"])
    last = register(w.api, gathering["id"], w.admin)

    def named_ledger(event: DomainEvent) -> bool:
        return isinstance(event, Gathering.RegistrationReceived) and event.participant is not None

    with watching(w, agent, after=0) as stream:
        seen = stream.until(
            lambda got: any(e.data["payload"]["registration_id"] == last["id"] for e in got)
        )

    assert [e.id for e in seen] == logged(w.node, named_ledger)
    assert [e.data["payload"]["registration_id"] for e in seen] == [named["id"], last["id"]]
    assert all(e.data["payload"]["participant"] for e in seen)
    assert "anon@example.org" not in json.dumps([e.data for e in seen])


def test_an_admin_sees_every_watchable_event_and_an_agent_is_labelled(world: World) -> None:
    w = world
    writer, writer_headers = make_agent(w, "posts:write")
    gathering = schedule(w.api, w.admin, w.slug)
    register(w.api, gathering["id"], email="anon@example.org")
    register(w.api, gathering["id"], w.member)
    by_agent = post(w, writer_headers, "written by an agent")
    marker = post(w, w.admin, "marker")
    with watching(w, w.admin, after=0) as stream:
        seen = stream.until(lambda got: any(e.data["object_id"] == marker for e in got))

    topics = {e.event for e in seen}
    assert {"kunveno.gathering.scheduled", "kunveno.community.member_joined"} <= topics
    assert "anon@example.org" not in json.dumps([e.data for e in seen])
    registrations = [e for e in seen if e.event == "kunveno.gathering.registration_received"]
    assert [e.data["payload"]["participant"] is not None for e in registrations] == [True]
    agent_post = next(e for e in seen if e.data["object_id"] == by_agent)
    assert agent_post.data["actor"] == f"agent:{writer['id']}"
    assert agent_post.data["by_agent"] == {
        "id": writer["id"],
        "name": "Watcher",
        "label": "by agent Watcher",
    }
    ids = [e.id for e in seen if e.id is not None]
    assert ids == sorted(set(ids))  # in log order, once each
    assert len(ids) == len(seen)


def test_an_erased_persons_words_are_null_on_the_stream(world: World) -> None:
    w = world
    _, agent = make_agent(w, "posts:read", "stream:read")
    erased = post(w, w.member, "something bea said")
    assert w.api.delete("/api/v1/me", headers=w.member).status_code == 204
    marker = post(w, w.admin, "marker")
    with watching(w, agent, after=0) as stream:
        seen = stream.until(lambda got: any(e.data["object_id"] == marker for e in got))

    by_bea = next(e for e in seen if e.data["object_id"] == erased)
    assert by_bea.data["payload"]["content"] is None
    assert "something bea said" not in json.dumps([e.data for e in seen])


# -- resuming ---------------------------------------------------------------------------------


def test_resuming_with_last_event_id_has_no_gaps_or_repeats_under_concurrent_writes(
    world: World,
) -> None:
    w = world
    _, agent = make_agent(w, "posts:read", "stream:read")
    carol = sign_up(w.api, "carol")
    join(w.api, w.slug, carol)
    start = head(w)
    writers = [
        threading.Thread(target=lambda h=h, n=n: [post(w, h, f"{n} {i}") for i in range(25)])
        for n, h in enumerate((w.admin, w.member, carol))
    ]
    for writer in writers:
        writer.start()
    received: list[int] = []
    last_id, rounds = start, 0
    rng = random.Random(5)
    while len(received) < 75:
        rounds += 1
        assert rounds < 200, f"no progress: {len(received)} of 75 received"
        with watching(w, agent, last_id=last_id) as stream:
            got = stream.events(min(rng.randint(1, 7), 75 - len(received)))
            received.extend(e.id for e in got if e.id is not None)
            assert stream.last_id is not None
            last_id = stream.last_id
        # The client hung up; writes go on meanwhile, and the next round resumes.
    for writer in writers:
        writer.join()

    expected = logged(w.node, posts_in(w), after=start)
    assert len(expected) == 75
    assert received == expected
    assert rounds > 10  # it really did disconnect and resume, many times


def test_a_client_that_drops_before_any_event_resumes_where_it_started(world: World) -> None:
    w = world
    _, agent = make_agent(w, "posts:read", "stream:read")
    before = post(w, w.admin, "before the stream")
    with watching(w, agent) as stream:
        opening = stream.next()
        assert opening is not None
        assert opening.data is None
        assert opening.id == head(w)  # from now: the opening names the position
    after = post(w, w.admin, "while away")
    with watching(w, agent, last_id=opening.id) as stream:
        (event,) = stream.events(1)

    assert event.data["object_id"] == after != before


def test_streams_far_behind_get_every_page_in_order(world: World) -> None:
    """More than a page behind (a page is 500): two streams read the backlog side by side."""
    w = world
    _, agent = make_agent(w, "posts:read", "stream:read")
    person = UUID(w.api.get("/api/v1/me", headers=w.admin).json()["id"])
    now = datetime.now(UTC)
    for start in range(0, 1200, 300):
        w.node.log.save(
            *(
                Post.publish(
                    post_id=uuid4(),
                    community_id=w.community_id,
                    content=f"backlog {n}",
                    in_reply_to=None,
                    actor=Actor.person(person),
                    at=now,
                )
                for n in range(start, start + 300)
            )
        )
    expected = logged(w.node, posts_in(w))
    with watching(w, agent, after=0) as first, watching(w, agent, after=0) as second:
        seen = [first.events(1200), second.events(1200)]

    assert len(expected) == 1200
    assert [e.id for e in seen[0]] == [e.id for e in seen[1]] == expected
    assert [e.data["payload"]["content"] for e in seen[0]] == [f"backlog {n}" for n in range(1200)]


def test_what_another_process_folds_reaches_the_stream(database_url: str, world: World) -> None:
    """This server's own runner is stopped: only the trail's tracked position, polled, can
    tell the stream that another process (a second node on the database) wrote and folded."""
    w = world
    _, agent = make_agent(w, "posts:read", "stream:read")
    admin = UUID(w.api.get("/api/v1/me", headers=w.admin).json()["id"])
    other = build(settings_for(database_url))
    try:
        with watching(w, agent) as stream:
            assert stream.next() is not None  # open, and counted
            w.node.projections.stop()
            written = other.posts.publish(admin, w.slug, "from elsewhere", None)
            other.projections.catch_up()
            (event,) = stream.events(1)
    finally:
        other.close()
        w.node.projections.start()

    assert event.id == written.position
    assert event.data["payload"]["content"] == "from elsewhere"


def test_last_event_id_must_be_a_position(world: World) -> None:
    w = world
    _, agent = make_agent(w, "posts:read", "stream:read")
    answer = w.api.get(
        f"/api/v1/communities/{w.slug}/stream", headers={**agent, "Last-Event-ID": "abc"}
    )
    assert_error(answer, 422, "invalid_value")


# -- control ------------------------------------------------------------------------------------


def test_suspension_mid_stream_closes_it_and_the_next_call_is_403(world: World) -> None:
    w = world
    made, agent = make_agent(w, "posts:read", "stream:read")
    with watching(w, agent) as stream:
        first = post(w, w.admin, "seen")
        (event,) = stream.events(1)
        assert event.data["object_id"] == first
        suspended = w.api.post(f"/api/v1/agents/{made['id']}/suspend", headers=w.admin)
        assert suspended.status_code == 200, suspended.text
        unseen = post(w, w.admin, "written after the suspension")
        rest = []
        while (message := stream.next()) is not None:  # the server ends the stream
            rest.append(message)

    assert [m.event for m in rest if m.data is not None] == ["closed"]
    assert rest[-1].data == {"reason": "this agent is suspended"}
    assert unseen not in json.dumps([m.data for m in rest])
    again = w.api.get(f"/api/v1/communities/{w.slug}/stream", headers=agent)
    assert_error(again, 403, "forbidden")


def test_losing_stream_read_closes_the_stream(world: World) -> None:
    w = world
    made, agent = make_agent(w, "posts:read", "stream:read")
    with watching(w, agent) as stream:
        changed = w.api.patch(
            f"/api/v1/agents/{made['id']}", json={"scopes": ["posts:read"]}, headers=w.admin
        )
        assert changed.status_code == 200, changed.text
        post(w, w.admin, "after the change")
        messages = []
        while (message := stream.next()) is not None:
            messages.append(message)

    assert messages[-1].event == "closed"
    assert "stream:read" in messages[-1].data["reason"]


# -- who may watch ------------------------------------------------------------------------------


def test_an_agent_without_stream_read_is_refused_and_the_refusal_recorded(world: World) -> None:
    w = world
    made, agent = make_agent(w, "posts:read")
    answer = w.api.get(f"/api/v1/communities/{w.slug}/stream", headers=agent)

    assert_error(answer, 403, "scope_missing")
    events = w.node.log.events.get(UUID(made["id"]))
    refused = [e for e in events if isinstance(e, Agent.AttemptRefused)]
    assert [(e.path, e.scope) for e in refused] == [
        (f"/api/v1/communities/{w.slug}/stream", "stream:read")
    ]


def test_an_agent_may_not_watch_another_community(world: World) -> None:
    w = world
    found(w.api, w.admin, "knitters")
    _, agent = make_agent(w, "posts:read", "stream:read", slug="knitters")
    answer = w.api.get(f"/api/v1/communities/{w.slug}/stream", headers=agent)
    assert_error(answer, 403, "forbidden")


def test_a_member_who_is_no_admin_is_refused_and_a_stranger_must_sign_in(world: World) -> None:
    w = world
    member = w.api.get(f"/api/v1/communities/{w.slug}/stream", headers=w.member)
    assert_error(member, 403, "forbidden")
    stranger = w.api.get(f"/api/v1/communities/{w.slug}/stream")
    assert_error(stranger, 401, "unauthenticated")


def test_an_agent_holds_at_most_five_streams(world: World) -> None:
    w = world
    _, agent = make_agent(w, "posts:read", "stream:read")
    with contextlib.ExitStack() as streams:
        # Each reader is kept: a reader dropped mid-stream closes its connection.
        readers = [streams.enter_context(watching(w, agent)) for _ in range(5)]
        assert all(reader.next() is not None for reader in readers)  # each was counted
        refused = w.api.get(f"/api/v1/communities/{w.slug}/stream", headers=agent)
        assert_error(refused, 429, "rate_limited")
        assert refused.headers["Retry-After"].isdigit()
    # Once they are closed, the agent may watch again (the server notices the hang-ups).
    for _ in range(50):
        answer_status = _status_of_a_stream(w, agent)
        if answer_status == 200:
            break
        assert answer_status == 429
        time.sleep(0.1)
    assert answer_status == 200


def _status_of_a_stream(w: World, headers: Headers) -> int:
    with w.api.stream("GET", f"/api/v1/communities/{w.slug}/stream", headers=headers) as answer:
        return answer.status_code
