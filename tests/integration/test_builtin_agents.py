"""The built-in agents: enabled per community, acting only through the node's own HTTP API.

A node is served on loopback with ``builtin_agents`` off, so nothing runs in its background
and each test drives the agents' passes (``run_once``) itself; the last test turns them on and
watches a serving node run them. The pure parts (what is due, the words, the stream's
parsing) are tested on their own first.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from api_helpers import (
    Headers,
    Json,
    assert_error,
    found,
    join,
    me,
    register,
    schedule,
    sign_up,
    timeline,
)
from federation_support import ServedNode, eventually, served_node

from kunveno.adapters import builtin_enabling
from kunveno.builtin_agents.catalogue import REMINDER, WELCOME
from kunveno.builtin_agents.reminder import (
    due_gatherings,
    notice_id,
    reminded_in,
    reminder_text,
)
from kunveno.builtin_agents.sse import ServerEvent, server_events
from kunveno.builtin_agents.welcome import greeted_in, greeting, joiner
from kunveno.domain.errors import PermissionDenied

NOW = datetime(2026, 11, 24, 18, 30, tzinfo=UTC)


def a_gathering(starts_in: timedelta, **extra: object) -> Json:
    return {
        "id": "g1",
        "url": "https://node.example/gatherings/g1",
        "title": "Repair café",
        "status": "scheduled",
        "starts_at": (NOW + starts_in).isoformat(),
        "timezone": "Europe/Amsterdam",
        **extra,
    }


# -- the pure parts -------------------------------------------------------------------------


def test_due_gatherings_are_scheduled_and_start_within_a_day() -> None:
    soon = a_gathering(timedelta(hours=20))
    cancelled = a_gathering(timedelta(hours=2), status="cancelled")
    later = a_gathering(timedelta(hours=25))
    under_way = a_gathering(timedelta(hours=-1))

    assert due_gatherings([soon, cancelled, later, under_way], NOW) == [soon]


def test_reminder_text_gives_the_local_time_and_day_in_the_gatherings_zone() -> None:
    tomorrow = a_gathering(timedelta(hours=20))  # 14:30 UTC tomorrow: 15:30 in Amsterdam
    tonight = a_gathering(timedelta(hours=3))  # 21:30 UTC: 22:30 in Amsterdam

    assert reminder_text(tomorrow, NOW) == (
        "Reminder: Repair café starts tomorrow at 15:30 (Europe/Amsterdam)"
        " — https://node.example/gatherings/g1"
    )
    assert "starts today at 22:30 (Europe/Amsterdam)" in reminder_text(tonight, NOW)
    assert "(UTC)" in reminder_text(a_gathering(timedelta(hours=3), timezone="Mars/Olympus"), NOW)


def test_a_reminder_counts_only_if_the_agents_own_and_for_this_start() -> None:
    gathering = a_gathering(timedelta(hours=20))
    mine = {"id": "agent-1"}

    def post(by: Json | None, ago: timedelta) -> Json:
        content = f"Reminder: … — {gathering['url']}"
        return {"by_agent": by, "content": content, "published_at": (NOW - ago).isoformat()}

    assert reminded_in([post(mine, timedelta(hours=1))], "agent-1", gathering)
    assert not reminded_in([post({"id": "agent-2"}, timedelta(hours=1))], "agent-1", gathering)
    assert not reminded_in([post(None, timedelta(hours=1))], "agent-1", gathering)
    # Published before this start's day began: a reminder of an earlier date.
    assert not reminded_in([post(mine, timedelta(hours=5))], "agent-1", gathering)


def test_a_notice_id_is_the_same_for_the_same_agent_gathering_and_start() -> None:
    gathering = a_gathering(timedelta(hours=20))
    moved = a_gathering(timedelta(hours=21))

    assert notice_id(gathering, "a") == notice_id(dict(gathering), "a")
    assert notice_id(gathering, "a") != notice_id(moved, "a")
    assert notice_id(gathering, "a") != notice_id(gathering, "b")


def test_server_events_are_parsed_as_the_standard_says() -> None:
    lines = [
        "retry: 3000",
        "id: 7",
        "",  # no data: nothing dispatched, the id stays
        ": keep-alive",
        "",
        "id: 8",
        "event: kunveno.community.member_joined",
        'data: {"a":',
        "data: 1}",
        "",
        "event: closed",
        "data:no-space",
        "",
    ]

    assert list(server_events(lines)) == [
        ServerEvent("8", "kunveno.community.member_joined", '{"a":\n1}'),
        ServerEvent("8", "closed", "no-space"),
    ]


def test_greetings_use_the_name_and_are_found_again() -> None:
    joined = NOW - timedelta(minutes=5)
    posted = {"by_agent": {"id": "w"}, "content": "Welcome, Ada!", "published_at": NOW.isoformat()}

    assert greeting({"display_name": "Ada", "username": "ada"}) == "Welcome, Ada!"
    assert greeting({"display_name": None, "username": "ada"}) == "Welcome, ada!"
    assert joiner({"payload": {"person_id": "p1"}}) == "p1"
    assert greeted_in([posted], "w", "Welcome, Ada!", joined)
    assert not greeted_in([posted], "w", "Welcome, Ada!", NOW + timedelta(seconds=1))
    assert not greeted_in([posted], "other", "Welcome, Ada!", joined)


# -- on a served node -----------------------------------------------------------------------


@pytest.fixture
def served(database_url: str) -> Iterator[ServedNode]:
    with served_node(database_url, builtin_agents=False) as node:
        yield node


def enable(node: ServedNode, admin: Headers, slug: str, builtin: str) -> Json:
    answer = node.api.post(
        f"/api/v1/communities/{slug}/agents", json={"builtin": builtin}, headers=admin
    )
    assert answer.status_code == 201, answer.text
    body: Json = answer.json()
    assert body["token"] is None  # the node keeps it
    agent: Json = body["agent"]
    return agent


def posts_by(node: ServedNode, slug: str, agent: Json, headers: Headers) -> list[str]:
    return [
        post["content"]
        for post in timeline(node.api, slug, headers)
        if (post["by_agent"] or {}).get("id") == agent["id"]
    ]


def notices(node: ServedNode, headers: Headers) -> list[Json]:
    answer = node.api.get("/api/v1/me/notices", headers=headers)
    assert answer.status_code == 200, answer.text
    found_notices: list[Json] = answer.json()
    return found_notices


def test_the_builtins_are_listed_with_their_scopes(served: ServedNode) -> None:
    answer = served.api.get("/api/v1/agents/builtins")

    assert answer.status_code == 200, answer.text
    listed = {b["key"]: b for b in answer.json()}
    assert set(listed) == {"reminder", "welcome"}
    assert listed["reminder"]["scopes"] == list(REMINDER.scopes)
    assert listed["welcome"]["scopes"] == list(WELCOME.scopes)
    assert listed["welcome"]["running"] is False  # this node was started with them off


def test_enabling_a_builtin_takes_its_own_narrow_scopes_once_per_community(
    served: ServedNode,
) -> None:
    api = served.api
    admin = sign_up(api, "ada")
    found(api, admin, "club")
    member = sign_up(api, "bob")
    join(api, "club", member)

    agent = enable(served, admin, "club", "reminder")
    again = api.post("/api/v1/communities/club/agents", json={"builtin": "reminder"}, headers=admin)
    by_member = api.post(
        "/api/v1/communities/club/agents", json={"builtin": "welcome"}, headers=member
    )

    assert (agent["builtin"], agent["name"], agent["status"]) == ("reminder", "Reminder", "active")
    assert agent["scopes"] == sorted(REMINDER.scopes)
    assert "already" in assert_error(again, 409, "conflict")
    assert_error(by_member, 403, "forbidden")
    listed = api.get("/api/v1/communities/club/agents", headers=admin).json()
    assert [a["builtin"] for a in listed] == ["reminder"]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({}, "give name and scopes, or builtin"),
        ({"name": "Mine"}, "give name and scopes, or builtin"),
        ({"builtin": "butler"}, "no built-in agent 'butler'"),
        ({"builtin": "welcome", "scopes": ["moderation:write"]}, "no scope beyond its own"),
    ],
)
def test_a_bad_agent_request_is_refused_clearly(served: ServedNode, body: Json, words: str) -> None:
    admin = sign_up(served.api, "ada")
    found(served.api, admin, "club")

    answer = served.api.post("/api/v1/communities/club/agents", json=body, headers=admin)

    assert words in assert_error(answer, 422, "invalid_request")
    assert served.api.get("/api/v1/communities/club/agents", headers=admin).json() == []


def test_a_builtin_can_be_narrowed_and_renamed_when_enabled(served: ServedNode) -> None:
    admin = sign_up(served.api, "ada")
    found(served.api, admin, "club")

    answer = served.api.post(
        "/api/v1/communities/club/agents",
        json={"builtin": "welcome", "name": "Greeter", "scopes": ["stream:read", "posts:write"]},
        headers=admin,
    )

    assert answer.status_code == 201, answer.text
    agent = answer.json()["agent"]
    assert (agent["name"], agent["scopes"]) == ("Greeter", ["posts:write", "stream:read"])


def test_the_reminder_posts_once_and_notifies_the_named_registrants(served: ServedNode) -> None:
    api, container = served.api, served.container
    admin = sign_up(api, "ada")
    found(api, admin, "club")
    agent = enable(served, admin, "club", "reminder")
    soon = schedule(api, admin, "club", in_days=20 / 24, capacity=10)
    schedule(api, admin, "club", in_days=3, capacity=10)  # not yet
    cancelled = schedule(api, admin, "club", in_days=10 / 24, capacity=10)
    api.post(f"/api/v1/gatherings/{cancelled['id']}/cancel", headers=admin).raise_for_status()
    bob, cy = sign_up(api, "bob"), sign_up(api, "cy")
    register(api, soon["id"], bob)
    register(api, soon["id"], cy)
    register(api, soon["id"], None, email="anon@example.org")
    reminder = container.builtin_agents.reminder

    assert reminder.run_once() == 1

    start = datetime.fromisoformat(soon["starts_at"]).astimezone(ZoneInfo("Europe/Amsterdam"))
    [text] = posts_by(served, "club", agent, admin)
    assert text.startswith("Reminder: Repair café starts ")
    assert text.endswith(f" at {start:%H:%M} (Europe/Amsterdam) — {soon['url']}")
    [post] = [p for p in timeline(api, "club", admin) if p["by_agent"]]
    assert post["by_agent"]["label"] == "by agent Reminder"
    for person in (bob, cy):
        [notice] = notices(served, person)
        assert (notice["text"], notice["gathering_id"]) == (text, soon["id"])
        assert notice["by_agent"]["id"] == agent["id"]
    assert notices(served, admin) == []  # not registered

    assert reminder.run_once() == 0
    assert posts_by(served, "club", agent, admin) == [text]
    assert len(notices(served, bob)) == 1


def test_the_timeline_alone_tells_the_reminder_it_reminded_already(served: ServedNode) -> None:
    """As after a crash between the post and the side table's note: the API is the judge."""
    api, container = served.api, served.container
    admin = sign_up(api, "ada")
    found(api, admin, "club")
    agent = enable(served, admin, "club", "reminder")
    schedule(api, admin, "club", in_days=20 / 24, capacity=10)
    assert container.builtin_agents.reminder.run_once() == 1

    with container.read_store.transaction() as cur:
        cur.execute("DELETE FROM builtin_agent_reminded")

    assert container.builtin_agents.reminder.run_once() == 0
    assert len(posts_by(served, "club", agent, admin)) == 1


def test_a_notice_sent_before_a_crash_is_not_sent_twice(served: ServedNode) -> None:
    """As after a crash between the notice and the post: the next pass sends the notice with
    the same id (the node keeps one), then posts."""
    api, container = served.api, served.container
    admin = sign_up(api, "ada")
    found(api, admin, "club")
    agent = enable(served, admin, "club", "reminder")
    soon = schedule(api, admin, "club", in_days=20 / 24, capacity=10)
    bob = sign_up(api, "bob")
    register(api, soon["id"], bob)
    [enabled] = container.builtin_agents.states.due("reminder", container.clock.now())
    as_agent = {"Authorization": f"Bearer {enabled.token}"}
    text = reminder_text(soon, container.clock.now())
    sent = api.post(
        f"/api/v1/gatherings/{soon['id']}/notices",
        json={"text": text, "id": notice_id(soon, agent["id"])},
        headers=as_agent,
    )
    assert sent.status_code == 201, sent.text

    assert container.builtin_agents.reminder.run_once() == 1

    assert len(notices(served, bob)) == 1
    assert len(posts_by(served, "club", agent, admin)) == 1


def test_the_reminder_waits_while_another_process_holds_its_lease(served: ServedNode) -> None:
    api, container = served.api, served.container
    admin = sign_up(api, "ada")
    found(api, admin, "club")
    agent = enable(served, admin, "club", "reminder")
    schedule(api, admin, "club", in_days=20 / 24, capacity=10)
    states = container.builtin_agents.states
    assert states.lease(agent["id"], "elsewhere", container.clock.now(), timedelta(minutes=5))

    assert container.builtin_agents.reminder.run_once() == 0

    states.unlease(agent["id"], "elsewhere")
    assert container.builtin_agents.reminder.run_once() == 1


def test_the_welcome_agent_greets_each_new_member_once(served: ServedNode) -> None:
    api, container = served.api, served.container
    admin = sign_up(api, "ada")
    found(api, admin, "club")
    agent = enable(served, admin, "club", "welcome")
    states, welcome = container.builtin_agents.states, container.builtin_agents.welcome
    start = states.position(agent["id"])
    dan = sign_up(api, "dan")
    join(api, "club", dan)

    assert welcome.run_once() == 1

    assert posts_by(served, "club", agent, admin) == ["Welcome, dan!"]
    [post] = [p for p in timeline(api, "club", admin) if p["by_agent"]]
    assert post["by_agent"]["label"] == "by agent Welcome"
    assert welcome.run_once() == 0
    # As after a crash before the position was stored: the join is read again, not greeted.
    with container.read_store.transaction() as cur:
        cur.execute("UPDATE builtin_agents SET position = %s", (start,))
    assert welcome.run_once() == 0
    assert posts_by(served, "club", agent, admin) == ["Welcome, dan!"]


def test_the_welcome_agent_greets_members_an_admin_approved(served: ServedNode) -> None:
    api, container = served.api, served.container
    admin = sign_up(api, "ada")
    found(api, admin, "club", membership="approval")
    agent = enable(served, admin, "club", "welcome")
    eve = sign_up(api, "eve")
    eve_id = api.get("/api/v1/me", headers=eve).json()["id"]
    assert join(api, "club", eve) == "pending"
    assert container.builtin_agents.welcome.run_once() == 0  # asked, not yet a member

    approved = api.post(f"/api/v1/communities/club/join-requests/{eve_id}/approve", headers=admin)
    assert approved.status_code == 204, approved.text

    assert container.builtin_agents.welcome.run_once() == 1
    assert posts_by(served, "club", agent, admin) == ["Welcome, eve!"]


def test_a_suspended_builtin_stops_and_carries_on_once_resumed(served: ServedNode) -> None:
    api, container = served.api, served.container
    admin = sign_up(api, "ada")
    found(api, admin, "club")
    agent = enable(served, admin, "club", "welcome")
    states, welcome = container.builtin_agents.states, container.builtin_agents.welcome
    suspended = api.post(f"/api/v1/agents/{agent['id']}/suspend", headers=admin)
    assert suspended.status_code == 200, suspended.text
    eve = sign_up(api, "eve")
    join(api, "club", eve)

    assert welcome.run_once() == 0

    assert posts_by(served, "club", agent, admin) == []
    now = container.clock.now()
    assert states.due("welcome", now) == []  # paused after the refusal
    assert [a.agent_id for a in states.due("welcome", now + timedelta(minutes=2))] == [agent["id"]]

    resumed = api.post(f"/api/v1/agents/{agent['id']}/resume", headers=admin)
    assert resumed.status_code == 200, resumed.text
    states.succeeded(agent["id"])  # as if the pause were over

    assert welcome.run_once() == 1
    assert posts_by(served, "club", agent, admin) == ["Welcome, eve!"]


def test_a_removed_builtin_is_forgotten_and_can_be_enabled_again(served: ServedNode) -> None:
    api, container = served.api, served.container
    admin = sign_up(api, "ada")
    found(api, admin, "club")
    agent = enable(served, admin, "club", "reminder")
    schedule(api, admin, "club", in_days=20 / 24, capacity=10)

    removed = api.delete(f"/api/v1/agents/{agent['id']}", headers=admin)
    assert removed.status_code == 204, removed.text

    assert container.builtin_agents.states.due("reminder", container.clock.now()) == []
    assert container.builtin_agents.reminder.run_once() == 0
    again = enable(served, admin, "club", "reminder")
    assert again["id"] != agent["id"]
    assert container.builtin_agents.reminder.run_once() == 1


def test_the_pages_path_and_the_apis_are_one_claim_and_one_forgetting(
    served: ServedNode,
) -> None:
    """The admin pages call ``builtin_enabling`` as the API's route does."""
    api, container = served.api, served.container
    admin = sign_up(api, "ada")
    found(api, admin, "club")
    ada = UUID(me(api, admin)["id"])
    bob = UUID(me(api, sign_up(api, "bob"))["id"])

    made = builtin_enabling.enable(container, ada, "club", "welcome").value
    again = api.post("/api/v1/communities/club/agents", json={"builtin": "welcome"}, headers=admin)
    with pytest.raises(PermissionDenied):  # not told that it is enabled already
        builtin_enabling.enable(container, bob, "club", "welcome")
    builtin_enabling.remove_agent(container, ada, made.agent_id)

    assert "already" in assert_error(again, 409, "conflict")
    assert container.builtin_agents.states.due("welcome", container.clock.now()) == []
    assert enable(served, admin, "club", "welcome")["id"] != str(made.agent_id)


def test_a_builtin_removed_behind_the_runners_back_is_retired(served: ServedNode) -> None:
    """Another process removed it (its token still in the side table here): the API's 403
    says so, and the runner forgets the token."""
    api, container = served.api, served.container
    admin = sign_up(api, "ada")
    found(api, admin, "club")
    agent = enable(served, admin, "club", "reminder")
    container.agents.remove(
        UUID(api.get("/api/v1/me", headers=admin).json()["id"]), UUID(agent["id"])
    )

    assert container.builtin_agents.reminder.run_once() == 0

    assert container.read_store.query("SELECT * FROM builtin_agents") == []


def test_a_rate_limited_builtin_waits_as_long_as_the_node_asks(database_url: str) -> None:
    # Two requests a minute: the reminder's third call of its pass is answered 429.
    with served_node(database_url, builtin_agents=False, agent_requests_per_minute=2) as node:
        admin = sign_up(node.api, "ada")
        found(node.api, admin, "club")
        agent = enable(node, admin, "club", "reminder")
        schedule(node.api, admin, "club", in_days=20 / 24, capacity=10)
        states, now = node.container.builtin_agents.states, node.container.clock.now()

        assert node.container.builtin_agents.reminder.run_once() == 0

        assert posts_by(node, "club", agent, admin) == []
        assert states.due("reminder", now + timedelta(seconds=20)) == []
        later = states.due("reminder", now + timedelta(seconds=31))  # Retry-After: 30
        assert [a.agent_id for a in later] == [agent["id"]]


# -- in the background ----------------------------------------------------------------------


def test_a_serving_node_runs_its_builtins_in_the_background(database_url: str) -> None:
    with served_node(database_url, reminder_interval_seconds=0.2) as node:
        api = node.api
        admin = sign_up(api, "ada")
        found(api, admin, "club")
        welcome = enable(node, admin, "club", "welcome")
        reminder = enable(node, admin, "club", "reminder")
        schedule(api, admin, "club", in_days=20 / 24, capacity=10)
        dan = sign_up(api, "dan")
        join(api, "club", dan)

        def greeted() -> bool:
            """the welcome agent greets dan"""
            return posts_by(node, "club", welcome, admin) == ["Welcome, dan!"]

        def reminded() -> bool:
            """the reminder reminds of the gathering"""
            return len(posts_by(node, "club", reminder, admin)) == 1

        eventually(greeted)
        eventually(reminded)
        # Stopped before the server: its open stream would hold up the server's shutdown.
        node.container.builtin_agents.stop()
