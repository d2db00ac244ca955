"""The audit: a community's trail, derived from the log, for its admins.

``GET /api/v1/communities/{slug}/audit?actor=&since=&until=&after=&limit=`` answers the
community's events in log order — who (a person, an agent, a remote actor, the system), what,
on what, with which agent scope — and an agent's refused attempts with the reason. Pages
follow ``next_after``. People only: an agent asking is refused (and that refusal is in its
own trail).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel

from kunveno.domain.errors import PermissionDenied
from kunveno.projections.trail import AuditEntry, Trail, audit_actor, audit_window

from . import presenters
from .deps import Fresh, Me, Node

router = APIRouter(prefix="/api/v1", tags=["agents"])

MAX_LIMIT = 1000
MAX_POSITION = 2**63 - 1  # a BIGINT


class AuditItem(BaseModel):
    position: int
    at: datetime
    actor: str
    actor_label: str
    topic: str
    action: str
    object_id: UUID
    scope: str | None
    detail: str | None
    request: str | None


class AuditPage(BaseModel):
    items: list[AuditItem]
    next_after: int | None  # give it as ``after`` for the next page; null: no more


@router.get("/communities/{slug}/audit", dependencies=[Fresh])
def audit(
    slug: str,
    node: Node,
    me: Me,
    actor: Annotated[str | None, Query(max_length=2100)] = None,
    since: Annotated[str | None, Query(max_length=60)] = None,
    until: Annotated[str | None, Query(max_length=60)] = None,
    after: Annotated[int, Query(ge=0, le=MAX_POSITION)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> AuditPage:
    """The community's trail in log order (``since`` inclusive, ``until`` exclusive)."""
    community = presenters.visible_community(node, slug, me)
    if node.queries.role(community["id"], str(me)) not in presenters.ADMINS:
        raise PermissionDenied("only an admin of the community reads its audit trail")
    start, end = audit_window(since, until)
    entries = Trail(node.read_store).entries(
        UUID(community["id"]),
        actor=None if actor is None else audit_actor(actor),
        since=start,
        until=end,
        after=after,
        limit=limit + 1,  # one more than asked: is there a next page?
    )
    page = entries[:limit]
    more = len(entries) > limit
    return AuditPage(
        items=[_item(entry) for entry in page],
        next_after=page[-1].position if more else None,
    )


def _item(entry: AuditEntry) -> AuditItem:
    return AuditItem.model_validate(entry.as_json())
