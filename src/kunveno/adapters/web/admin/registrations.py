"""A gathering's registrations: who is coming, approving and declining those who asked, and
notices to everyone registered by name."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from kunveno.domain.errors import Conflict, InvalidValue, NotFound
from kunveno.projections.store import Row

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
from .gatherings import community_gathering, gathering_item

router = APIRouter(include_in_schema=False)


@router.get(BASE + "/gatherings/{gathering_id}/registrations", response_class=HTMLResponse)
def registrations_page(request: Request, slug: str, gathering_id: str) -> Response:
    d = desk(request, slug)
    return registrations(request, d, community_gathering(d, gathering_id))


def registrations(
    request: Request, d: Desk, row: Row, problem: FormErrors | None = None, text: str = ""
) -> Response:
    q = d.node.queries
    return page(
        request,
        d,
        "admin_registrations.html",
        "gatherings",
        problem=problem,
        typed={"text": text},
        gathering=gathering_item(d.node, row),
        participants=q.participants(row["id"]),
        anonymous=q.anonymous_count(row["id"]),
        counts=q.registration_counts(row["id"]),
    )


@router.post(BASE + "/gatherings/{gathering_id}/registrations/{registration_id}/{what}")
async def decide_registration(
    request: Request, slug: str, gathering_id: str, registration_id: str, what: str
) -> Response:
    def do(d: Desk, _: Fields) -> Response:
        row = community_gathering(d, gathering_id)
        commands = {
            "approve": d.node.gatherings.approve_registration,
            "decline": d.node.gatherings.decline_registration,
        }
        if what not in commands:
            raise NotFound("there is nothing at this address")
        registration = uuid_of(registration_id)
        problem = refusal(lambda: commands[what](d.person, UUID(row["id"]), registration))
        if problem is not None:
            return registrations(request, d, row, problem)
        return done(
            request, f"{d.base}/gatherings/{row['id']}/registrations", f"registration-{what}d"
        )

    return await act(request, slug, do)


@router.post(BASE + "/gatherings/{gathering_id}/notices")
async def send_notice(request: Request, slug: str, gathering_id: str) -> Response:
    def do(d: Desk, fields: Fields) -> Response:
        row = community_gathering(d, gathering_id)
        text = fields.get("text", "")
        try:
            d.node.gatherings.send_notice(d.person, UUID(row["id"]), text.strip())
        except (InvalidValue, Conflict) as error:
            problem = FormErrors({"text": error.detail}, error_status(error))
            return registrations(request, d, row, problem, text)
        return done(request, f"{d.base}/gatherings/{row['id']}/registrations", "notice")

    return await act(request, slug, do)
