"""Members and join requests: approving, rejecting, removing, inviting (moderators), and
changing roles (admins; only an owner names another owner)."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from kunveno.domain.community import Role
from kunveno.domain.errors import Conflict, InvalidValue, NotFound

from .desk import (
    BASE,
    Desk,
    Fields,
    FormErrors,
    act,
    desk,
    done,
    error_status,
    page,
    refusal,
    uuid_of,
)

router = APIRouter(include_in_schema=False)


@router.get(BASE + "/members", response_class=HTMLResponse)
def members_page(request: Request, slug: str) -> Response:
    return members(request, desk(request, slug))


def members(request: Request, d: Desk, problem: FormErrors | None = None, **typed: str) -> Response:
    q = d.node.queries
    roles = [r.label for r in Role if r is not Role.OWNER or d.role == "owner"]
    return page(
        request,
        d,
        "admin_members.html",
        "members",
        problem=problem,
        typed=typed,
        requests=q.join_requests(d.id),
        members=q.members(d.id),
        roles=roles,
        my_rank=rank(d.role),
        rank=rank,
    )


@router.post(BASE + "/members/{person_id}/approve")
async def approve_member(request: Request, slug: str, person_id: str) -> Response:
    return await _membership(request, slug, person_id, "approve")


@router.post(BASE + "/members/{person_id}/reject")
async def reject_member(request: Request, slug: str, person_id: str) -> Response:
    return await _membership(request, slug, person_id, "reject")


@router.post(BASE + "/members/{person_id}/remove")
async def remove_member(request: Request, slug: str, person_id: str) -> Response:
    return await _membership(request, slug, person_id, "remove")


async def _membership(request: Request, slug: str, person_id: str, what: str) -> Response:
    def do(d: Desk, _: Fields) -> Response:
        who = uuid_of(person_id)
        commands: dict[str, Callable[[UUID, str, UUID], object]] = {
            "approve": d.node.communities.approve,
            "reject": d.node.communities.reject,
            "remove": d.node.communities.remove,
        }
        problem = refusal(lambda: commands[what](d.person, d.slug, who))
        if problem is not None:
            return members(request, d, problem)
        return done(request, f"{d.base}/members", f"member-{what.removesuffix('e')}ed")

    return await act(request, slug, do)


@router.post(BASE + "/members/{person_id}/role")
async def change_role(request: Request, slug: str, person_id: str) -> Response:
    def do(d: Desk, fields: Fields) -> Response:
        who = uuid_of(person_id)
        problem = refusal(
            lambda: d.node.communities.change_role(
                d.person, d.slug, who, Role.from_label(fields.get("role", ""))
            )
        )
        if problem is not None:
            return members(request, d, problem)
        return done(request, f"{d.base}/members", "role")

    return await act(request, slug, do, admins=True)


@router.post(BASE + "/members/invite")
async def invite(request: Request, slug: str) -> Response:
    def do(d: Desk, fields: Fields) -> Response:
        username = fields.get("username", "").strip()[:100]
        try:
            d.node.communities.invite(d.person, d.slug, d.node.accounts.person_id_for(username))
        except (NotFound, InvalidValue, Conflict) as error:
            problem = FormErrors({"username": error.detail}, error_status(error))
            return members(request, d, problem, username=username)
        return done(request, f"{d.base}/members", "invited")

    return await act(request, slug, do)


def rank(role: str | None) -> int:
    return 0 if role is None else Role.from_label(role).value
