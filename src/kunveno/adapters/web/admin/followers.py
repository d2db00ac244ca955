"""A community's followers from the fediverse, for its admins: accepting or rejecting a
follow request, and who follows."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from kunveno.domain.errors import NotFound

from .desk import BASE, Desk, Fields, FormErrors, act, desk, done, page, refusal

router = APIRouter(include_in_schema=False)


@router.get(BASE + "/followers", response_class=HTMLResponse)
def followers_page(request: Request, slug: str) -> Response:
    return followers(request, desk(request, slug, admins=True))


def followers(request: Request, d: Desk, problem: FormErrors | None = None) -> Response:
    q = d.node.queries
    return page(
        request,
        d,
        "admin_followers.html",
        "followers",
        problem=problem,
        pending=q.followers(d.id, "pending"),
        accepted=q.followers(d.id, "accepted"),
    )


@router.post(BASE + "/followers/{what}")
async def decide_follower(request: Request, slug: str, what: str) -> Response:
    def do(d: Desk, fields: Fields) -> Response:
        if what not in ("accept", "reject"):
            raise NotFound("there is nothing at this address")
        actor_url = fields.get("actor_url", "")
        problem = refusal(
            lambda: d.node.federation.decide_follow(
                d.person,
                UUID(d.id),
                actor_url,
                d.node.urls.community(d.slug),
                accept=what == "accept",
            )
        )
        if problem is not None:
            return followers(request, d, problem)
        return done(request, f"{d.base}/followers", f"follow-{what}ed")

    return await act(request, slug, do, admins=True)
