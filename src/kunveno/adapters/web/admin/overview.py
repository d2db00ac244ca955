"""A community's desk at a glance: what waits (join and follow requests), how many members,
gatherings to come and agents."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from .desk import BASE, desk, page

router = APIRouter(include_in_schema=False)


@router.get(BASE, response_class=HTMLResponse)
def overview(request: Request, slug: str) -> Response:
    d = desk(request, slug)
    q = d.node.queries
    now = d.node.clock.now()
    return page(
        request,
        d,
        "admin_overview.html",
        "overview",
        pending=len(q.join_requests(d.id)),
        members=len(q.members(d.id)),
        upcoming=len(q.gatherings(d.id, now, None)),
        agents=len(q.agents(d.id)) if d.is_admin else 0,
        follow_requests=len(q.followers(d.id, "pending")) if d.is_admin else 0,
    )
