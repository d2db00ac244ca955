"""One watcher's Server-Sent Events: the community's events after a log position, as its
scopes allow, until it goes away or may no longer watch.

Each event is ``id: POSITION``, ``event: TOPIC``, ``data: JSON`` (see ``feed``). The stream
opens with ``retry:`` and an ``id:`` of where it starts (no data: a client that reconnects
before any event resumes there, without a gap). A comment every ``heartbeat`` seconds keeps
proxies from closing a quiet stream. Who watches is checked against every page read (the
agents' states read after the page's rows, so a suspension logged before an event stops it
from being sent) and against the log at least every ``recheck`` seconds; when the watcher may
no longer watch, a last ``event: closed`` says why and the stream ends.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from uuid import UUID

import orjson

from kunveno.adapters.agents.feed import FeedPage, allowed_scopes
from kunveno.adapters.agents.hub import StreamHub

HEARTBEAT_SECONDS = 15.0
RECHECK_SECONDS = 1.0
RETRY_MILLISECONDS = 3000
KEEP_ALIVE = b": keep-alive\n\n"

# Blocking: the scopes the watcher may watch with now, read from the log, or why it may not.
Recheck = Callable[[], frozenset[str] | str]


@dataclass(frozen=True)
class Watcher:
    key: str  # whose streams these are: ``agent:ID`` or ``person:ID``
    agent_id: str | None  # an agent: its state comes with every page
    scopes: frozenset[str]
    recheck: Recheck


async def event_stream(
    hub: StreamHub,
    community_id: UUID,
    watcher: Watcher,
    start: int,
    *,
    heartbeat: float = HEARTBEAT_SECONDS,
    recheck: float = RECHECK_SECONDS,
) -> AsyncGenerator[bytes, None]:
    hub.subscribe()
    try:
        yield b"retry: %d\nid: %d\n\n" % (RETRY_MILLISECONDS, start)
        position, scopes = start, watcher.scopes
        checked = sent = time.monotonic()
        while not hub.closed:
            as_of = hub.known
            page = await hub.page(community_id, position, as_of)
            allowed = await _allowed(hub, watcher, page, scopes)
            if isinstance(allowed, str):
                yield _closed(allowed)
                return
            scopes = allowed
            frames = [item.frame for item in page.items if item.scope in scopes]
            if frames:
                yield b"".join(frames)
                sent = time.monotonic()
            position = position if page.last is None else page.last
            if time.monotonic() - checked >= recheck:
                rechecked = await hub.run(watcher.recheck)
                if isinstance(rechecked, str):
                    yield _closed(rechecked)
                    return
                scopes, checked = rechecked, time.monotonic()
            if page.full:
                continue  # behind: read on at once
            now = time.monotonic()
            await hub.wait(as_of, max(0.0, min(checked + recheck, sent + heartbeat) - now))
            if time.monotonic() - sent >= heartbeat:
                yield KEEP_ALIVE
                sent = time.monotonic()
        yield _closed("the server is closing")
    finally:
        hub.unsubscribe()


async def _allowed(
    hub: StreamHub, watcher: Watcher, page: FeedPage, scopes: frozenset[str]
) -> frozenset[str] | str:
    """The watcher's scopes as of the page just read, or why it may no longer watch."""
    if watcher.agent_id is None:
        return scopes  # a person: the recheck against the log decides
    state = page.agents.get(watcher.agent_id)
    allowed = "unknown" if state is None else allowed_scopes(state.status, state.scopes)
    if isinstance(allowed, str):
        # The read models say no (or are being rebuilt): the log decides.
        return await hub.run(watcher.recheck)
    return allowed


def _closed(reason: str) -> bytes:
    return b"event: closed\ndata: %s\n\n" % orjson.dumps({"reason": reason})
