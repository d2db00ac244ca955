"""Watching a community: its events as Server-Sent Events, and an agent's webhook.

``GET /api/v1/communities/{slug}/stream`` is for an agent of the community holding
``stream:read`` (it sees what its other scopes let it) and for the community's admins (they
see every event an agent could). It starts after ``Last-Event-ID`` (the header a reconnecting
client sends), else after ``?after=``, else from now. ``PUT``/``GET``/``DELETE
/api/v1/agents/{id}/webhook`` are for the agent's admins (see ``adapters/agents``).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Callable
from typing import Annotated
from uuid import UUID

import httpx
from fastapi import APIRouter, Header, Query, Response
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from kunveno.adapters.agents.feed import STREAM_SCOPES, allowed_scopes
from kunveno.adapters.agents.hub import TooManyStreams
from kunveno.adapters.agents.sse import Watcher, event_stream
from kunveno.application.callers import Caller
from kunveno.application.errors import Unauthenticated
from kunveno.bootstrap import Container
from kunveno.domain.agent import AgentStatus
from kunveno.domain.agent import Scope as AgentScope
from kunveno.domain.errors import Conflict, InvalidValue, NotFound, PermissionDenied
from kunveno.projections.store import Row, from_timestamp

from . import presenters, schemas
from .deps import Acting, Fresh, Me, Node, Token
from .limits import RateLimited

router = APIRouter(prefix="/api/v1", tags=["agents"])

MAX_POSITION = 2**63 - 1  # a BIGINT
RETRY_AFTER_BUSY = 5


class EventStream(StreamingResponse):
    """An SSE response that gives its watcher's place back however the stream ends."""

    media_type = "text/event-stream"

    def __init__(self, events: AsyncGenerator[bytes, None], release: Callable[[], None]) -> None:
        super().__init__(
            events,
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
        self._events = events
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()
            with contextlib.suppress(Exception):
                await self._events.aclose()


@router.get(
    "/communities/{slug}/stream",
    dependencies=[Fresh],
    response_class=EventStream,
    responses={200: {"content": {"text/event-stream": {}}}},
)
def stream(
    slug: str,
    node: Node,
    caller: Acting,
    token: Token,
    after: Annotated[int | None, Query(ge=0, le=MAX_POSITION)] = None,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
) -> EventStream:
    """The community's events after a position, as the caller may see them."""
    community = presenters.community_for(node, slug, caller)
    watcher = _watcher(node, community["id"], caller, token)
    start = _start(node, last_event_id, after)
    try:
        release = node.stream_hub.open(watcher.key)
    except TooManyStreams as error:
        raise RateLimited(str(error), retry_after=RETRY_AFTER_BUSY) from None
    events = event_stream(node.stream_hub, UUID(community["id"]), watcher, start)
    return EventStream(events, release)


def _start(node: Container, last_event_id: str | None, after: int | None) -> int:
    if last_event_id is not None and last_event_id.strip():
        text = last_event_id.strip()
        if not text.isdigit():
            raise InvalidValue("Last-Event-ID is a log position: a whole number")
        return int(text)
    return after if after is not None else node.projections.head()


def _watcher(node: Container, community_id: str, caller: Caller, token: str | None) -> Watcher:
    if caller.agent is not None:
        caller.reads(AgentScope.STREAM_READ, community_id)
        agent_id = caller.agent.id

        def agent_now() -> frozenset[str] | str:
            try:
                agent = node.agents.load(agent_id)
            except NotFound:
                return "this agent is removed"
            return allowed_scopes(agent.status.value, agent.scopes)

        return Watcher(
            f"agent:{agent_id}", str(agent_id), frozenset(caller.agent.scopes), agent_now
        )
    person = caller.person_id
    if node.queries.role(community_id, str(person)) not in presenters.ADMINS:
        raise PermissionDenied(
            "the stream is for the community's admins and its agents with 'stream:read'"
        )

    def person_now() -> frozenset[str] | str:
        try:
            node.accounts.authenticate(token or "")
        except Unauthenticated as error:
            return error.detail
        if node.queries.role(community_id, str(person)) not in presenters.ADMINS:
            return "you are no longer an admin of this community"
        return STREAM_SCOPES

    return Watcher(f"person:{person}", None, STREAM_SCOPES, person_now)


# -- an agent's webhook ---------------------------------------------------------------------


@router.put("/agents/{agent_id}/webhook", dependencies=[Fresh])
def set_webhook(
    agent_id: UUID, body: schemas.WebhookChange, node: Node, me: Me
) -> schemas.WebhookSet:
    """Send the agent's events to ``url``; answers a new secret, shown once."""
    agent = node.agents.load(agent_id)
    node.agents.require_admin_of(me, agent)
    if agent.status is AgentStatus.REMOVED:
        raise Conflict("this agent was removed")
    if AgentScope.STREAM_READ.value not in agent.scopes:
        raise Conflict("a webhook carries the agent's stream: grant it 'stream:read' first")
    url = _webhook_url(node, body.url)
    secret = node.webhooks.set(agent_id, agent.community_id, url, after=body.after)
    return schemas.WebhookSet(**_webhook(_row(node, agent_id)).model_dump(), secret=secret)


@router.get("/agents/{agent_id}/webhook", dependencies=[Fresh])
def get_webhook(agent_id: UUID, node: Node, me: Me) -> schemas.Webhook:
    """Where the agent's events go and how far they went (never the secret)."""
    node.agents.require_admin_of(me, node.agents.load(agent_id))
    return _webhook(_row(node, agent_id))


@router.delete("/agents/{agent_id}/webhook", status_code=204)
def remove_webhook(agent_id: UUID, node: Node, me: Me) -> Response:
    node.agents.require_admin_of(me, node.agents.load(agent_id))
    node.webhooks.remove(agent_id)
    return Response(status_code=204)


def _webhook_url(node: Container, text: str) -> str:
    """An absolute https URL (http too where the node allows it, for development)."""
    try:
        url = httpx.URL(text.strip())
    except httpx.InvalidURL:
        raise InvalidValue("the webhook URL is not a URL") from None
    schemes = {"https", "http"} if node.settings.federation_allow_http else {"https"}
    if url.scheme not in schemes or not url.host or url.userinfo:
        raise InvalidValue(f"a webhook URL is an absolute {' or '.join(sorted(schemes))} URL")
    return str(url)


def _row(node: Container, agent_id: UUID) -> Row:
    row = node.webhooks.get(agent_id)
    if row is None:
        raise NotFound("this agent has no webhook")
    return row


def _webhook(row: Row) -> schemas.Webhook:
    return schemas.Webhook(
        agent_id=row["agent_id"],
        url=row["url"],
        position=int(row["position"]),
        attempts=int(row["attempts"]),
        next_at=from_timestamp(row["next_at"]),
        last_status=row["last_status"],
        last_error=row["last_error"],
        delivered_at=None if row["delivered_at"] is None else from_timestamp(row["delivered_at"]),
        created_at=from_timestamp(row["created_at"]),
    )
