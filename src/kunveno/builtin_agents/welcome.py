"""The welcome agent: follows its community's stream and greets each new member by name.

It reads the stream (stream:read) from the position kept in the side table, and stores each
event's position after acting on it. On a join (``member_joined``, or ``join_approved`` for a
community that approves its members) it finds the member's name (members:read) and posts
"Welcome, NAME!" (posts:write). A crash between the post and the stored position would replay
the join: the agent first looks for its own greeting of the same words published since the
join (posts:read), so nobody is greeted twice. Someone who left before their turn came is not
greeted.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx

from .acting import Acting, Turn
from .api import AgentApi, unworkable
from .catalogue import WELCOME
from .sse import ServerEvent, server_events
from .state import AgentStates

Json = dict[str, Any]
log = logging.getLogger(__name__)

JOINS = frozenset({"kunveno.community.member_joined", "kunveno.community.join_approved"})
RENEW_EVERY = 30.0  # seconds between lease renewals while a stream stays open (lease: 2 min)
RECONNECT_PAUSE = 1.0


def greeting(member: Json) -> str:
    name = member.get("display_name") or member.get("username")
    return f"Welcome, {name}!" if name else "Welcome!"


def joiner(data: Json) -> str:
    """The person an event is about, at the top of its data or in its payload."""
    return str(data.get("person_id") or (data.get("payload") or {}).get("person_id") or "")


def greeted_in(posts: list[Json], agent_id: str, text: str, since: datetime | None) -> bool:
    return any(
        (post.get("by_agent") or {}).get("id") == agent_id
        and post["content"] == text
        and (since is None or datetime.fromisoformat(post["published_at"]) >= since)
        for post in posts
    )


class Welcome:
    def __init__(self, acting: Acting, states: AgentStates) -> None:
        self._acting = acting
        self._states = states

    def run_once(self, idle: float = 1.0) -> int:
        """Catch every enabled welcome agent up with its stream (until ``idle`` seconds pass
        with nothing new); the greetings posted."""
        return self._acting.each(WELCOME.key, lambda turn: self.catch_up(turn, idle=idle))

    def follow(
        self,
        turn: Turn,
        stop: threading.Event,
        read_timeout: float,
        on_open: Callable[[httpx.Response], None],
    ) -> int:
        """Keep following until stopped, the lease is lost, or the node refuses the agent."""
        greeted = 0
        while not stop.is_set() and turn.renew():
            greeted += self.catch_up(turn, idle=read_timeout, stop=stop, on_open=on_open)
            stop.wait(RECONNECT_PAUSE)
        return greeted

    def catch_up(
        self,
        turn: Turn,
        *,
        idle: float,
        stop: threading.Event | None = None,
        on_open: Callable[[httpx.Response], None] | None = None,
    ) -> int:
        me = turn.api.get("/api/v1/agents/me")
        path = f"/api/v1/communities/{me['community']}/stream"
        greeted = 0
        try:
            position = self._states.position(turn.agent.agent_id)
            with turn.api.stream(path, position, idle) as response:
                if on_open is not None:
                    on_open(response)
                for event in server_events(_lines(response, turn, stop)):
                    greeted += self._handle(turn, me, event)
        except httpx.ReadTimeout:
            pass  # nothing new for a while: caught up
        except httpx.TransportError:
            if stop is None or not stop.is_set():
                raise
        return greeted

    def _handle(self, turn: Turn, me: Json, event: ServerEvent) -> int:
        if event.id is None or not event.id.isdigit():
            return 0
        greeted = 0
        if event.event in JOINS:
            try:
                greeted = self._greet(turn.api, me, json.loads(event.data))
            except httpx.HTTPStatusError as error:
                if not unworkable(error):
                    raise  # not advanced: this join is read again next time
                log.warning("no greeting for event %s: %s", event.id, error)
        self._states.advance(turn.agent.agent_id, int(event.id))
        return greeted

    def _greet(self, api: AgentApi, me: Json, data: Json) -> int:
        slug = me["community"]
        person = joiner(data)
        members = api.get(f"/api/v1/communities/{slug}/members")
        member = next((m for m in members if m["person_id"] == person), None)
        if member is None:
            return 0  # left (or was removed) before their turn came
        text = greeting(member)
        since = datetime.fromisoformat(data["at"]).astimezone(UTC) if data.get("at") else None
        if greeted_in(api.get(f"/api/v1/communities/{slug}/posts"), me["id"], text, since):
            return 0
        api.post(f"/api/v1/communities/{slug}/posts", {"content": text})
        return 1


def _lines(response: httpx.Response, turn: Turn, stop: threading.Event | None) -> Iterator[str]:
    """The stream's lines, until stopped or the lease is lost (renewed now and then)."""
    renewed = time.monotonic()
    for line in response.iter_lines():
        if stop is not None and stop.is_set():
            return
        if time.monotonic() - renewed > RENEW_EVERY:
            if not turn.renew():
                return
            renewed = time.monotonic()
        yield line
