"""The reminder agent: the day before a gathering, a reminder in the timeline and a notice to
everyone registered by name. Everything through the client API, with its own token.

Each gathering is reminded of at least once, and, as the API tells what was done, once:

- The post comes last and is the record that a gathering was reminded of: the agent's own
  post carrying the gathering's URL, published since this start time's 24 hours began. The
  agent reads the timeline (posts:read) before reminding, so whichever process runs next,
  after whatever restart, the API says what was done. A crash after the notice and before the
  post sends the notice again on the next run, with the same id (derived from the agent, the
  gathering and its start), which the node sends once; a crash after the post repeats nothing.
- A lease in the side table lets one process at a time act for an agent, so two processes do
  not both remind.
- The timeline answers its latest 100 posts only; a community posting more than that within
  a day would push the reminder out of sight, so the agent also remembers, in the side table,
  which gathering (and start time) it reminded of. Either one is enough to skip.
- A gathering moved to another day is reminded of again for its new start.
- What could still double a reminder: one gathering's steps outliving the lease (2 minutes,
  renewed before each gathering; each call times out after 20 s), or a crash between the
  post and the side table's note in a community whose timeline moved on by 100 posts since.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import NAMESPACE_URL, uuid5
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx

from .acting import Acting, Turn
from .api import AgentApi, unworkable
from .catalogue import REMINDER
from .state import AgentStates

Json = dict[str, Any]
log = logging.getLogger(__name__)

WINDOW = timedelta(hours=24)
# Registrations still standing (not cancelled or declined): someone to notify.
STANDING = frozenset({"confirmed", "waitlisted", "pending"})


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def due_gatherings(gatherings: list[Json], now: datetime) -> list[Json]:
    """Scheduled gatherings starting within the next 24 hours (not those under way)."""
    return [
        g
        for g in gatherings
        if g["status"] == "scheduled" and now < moment(g["starts_at"]) <= now + WINDOW
    ]


def reminded_in(posts: list[Json], agent_id: str, gathering: Json) -> bool:
    """Whether the agent's own post about this gathering's current start is in ``posts``."""
    opened = moment(gathering["starts_at"]) - WINDOW
    return any(
        (post.get("by_agent") or {}).get("id") == agent_id
        and gathering["url"] in post["content"]
        and moment(post["published_at"]) >= opened
        for post in posts
    )


def reminder_text(gathering: Json, now: datetime) -> str:
    """``Reminder: TITLE starts tomorrow at HH:MM (ZONE) — URL``, in the gathering's zone."""
    zone_name = gathering["timezone"]
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        zone, zone_name = ZoneInfo("UTC"), "UTC"
    start = moment(gathering["starts_at"]).astimezone(zone)
    day = "today" if start.date() == now.astimezone(zone).date() else "tomorrow"
    return (
        f"Reminder: {gathering['title']} starts {day} at {start:%H:%M} ({zone_name})"
        f" — {gathering['url']}"
    )


def notice_id(gathering: Json, agent_id: str) -> str:
    """The same for the same agent, gathering and start: a resent notice is sent once."""
    start = moment(gathering["starts_at"]).isoformat()
    return str(uuid5(NAMESPACE_URL, f"{gathering['url']}#reminder-{agent_id}-{start}"))


class Reminder:
    def __init__(self, acting: Acting, states: AgentStates, now: Callable[[], datetime]) -> None:
        self._acting = acting
        self._states = states
        self._now = now

    def run_once(self) -> int:
        """One pass over every enabled reminder agent; the reminders posted."""
        return self._acting.each(REMINDER.key, self._remind_all)

    def _remind_all(self, turn: Turn) -> int:
        now = self._now()
        me = turn.api.get("/api/v1/agents/me")
        slug = me["community"]
        window = {"from": now.isoformat(), "to": (now + WINDOW).isoformat()}
        due = due_gatherings(turn.api.get(f"/api/v1/communities/{slug}/gatherings", window), now)
        if not due:
            return 0
        posts = turn.api.get(f"/api/v1/communities/{slug}/posts")
        reminded = 0
        for gathering in due:
            if not turn.renew():
                break  # the lease went to another process: it carries on
            starts_at = moment(gathering["starts_at"])
            if self._states.reminded(me["id"], gathering["id"], starts_at) or reminded_in(
                posts, me["id"], gathering
            ):
                continue
            text = reminder_text(gathering, now)
            try:
                remind(turn.api, slug, gathering, text, notice_id(gathering, me["id"]))
            except httpx.HTTPStatusError as error:
                if not unworkable(error):
                    raise
                log.warning("no reminder of %s: %s", gathering["url"], error)
                continue
            self._states.remember(me["id"], gathering["id"], starts_at, now)
            reminded += 1
        return reminded


def remind(api: AgentApi, slug: str, gathering: Json, text: str, notice_id: str) -> None:
    """The notice first (only if someone is registered by name), the post last: see above."""
    named = api.get(f"/api/v1/gatherings/{gathering['id']}/registrations")["participants"]
    if any(participant["status"] in STANDING for participant in named):
        notice = {"text": text, "id": notice_id}
        api.post(f"/api/v1/gatherings/{gathering['id']}/notices", notice)
    api.post(f"/api/v1/communities/{slug}/posts", {"content": text})
