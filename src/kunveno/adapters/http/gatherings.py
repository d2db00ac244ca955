"""Gatherings and registrations for them."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Query, Response
from pydantic import AwareDatetime

from kunveno.bootstrap import Container
from kunveno.domain.agent import Scope
from kunveno.domain.errors import NotFound
from kunveno.domain.gathering import GatheringDetails, JoinMode

from . import presenters, schemas
from .deps import Acting, Fresh, MaybeActing, MaybeMe, Me, Node

router = APIRouter(prefix="/api/v1", tags=["gatherings"])


def _details(body: schemas.NewGathering) -> GatheringDetails:
    return GatheringDetails(
        title=body.title,
        description=body.description,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        timezone=body.timezone,
        location=body.location,
        online_url=body.online_url,
        join_mode=JoinMode(body.join_mode),
        anonymous_registration=body.anonymous_registration,
    )


@router.post("/communities/{slug}/gatherings", status_code=201)
def schedule(slug: str, body: schemas.NewGathering, node: Node, me: Acting) -> schemas.Gathering:
    presenters.community_for(node, slug, me)
    outcome = node.gatherings.schedule(me, slug, _details(body), body.capacity)
    node.read_your_writes(outcome.position)
    return presenters.gathering(node, presenters.gathering_for(node, outcome.value, me))


@router.get("/communities/{slug}/gatherings", dependencies=[Fresh])
def upcoming(
    slug: str,
    node: Node,
    me: MaybeActing,
    start: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    end: Annotated[AwareDatetime | None, Query(alias="to")] = None,
) -> list[schemas.Gathering]:
    community = presenters.community_for(node, slug, me)
    if me is not None:
        me.reads(Scope.GATHERINGS_READ, community["id"])
    rows = node.queries.gatherings(community["id"], start or node.clock.now(), end)
    return [presenters.gathering(node, row) for row in rows]


@router.get("/gatherings/{gathering_id}", dependencies=[Fresh])
def one_gathering(gathering_id: UUID, node: Node, me: MaybeActing) -> schemas.Gathering:
    row = presenters.gathering_for(node, gathering_id, me)
    if me is not None:
        me.reads(Scope.GATHERINGS_READ, row["community_id"])
    return presenters.gathering(node, row)


@router.put("/gatherings/{gathering_id}", dependencies=[Fresh])
def change(
    gathering_id: UUID, body: schemas.GatheringChange, node: Node, me: Acting
) -> schemas.Gathering:
    presenters.gathering_for(node, gathering_id, me)
    outcome = node.gatherings.change(me, gathering_id, _details(body), body.capacity)
    node.read_your_writes(outcome.position)
    return presenters.gathering(node, presenters.gathering_for(node, gathering_id, me))


@router.post("/gatherings/{gathering_id}/cancel", dependencies=[Fresh])
def cancel(gathering_id: UUID, node: Node, me: Acting) -> schemas.Gathering:
    presenters.gathering_for(node, gathering_id, me)
    node.read_your_writes(node.gatherings.cancel(me, gathering_id).position)
    return presenters.gathering(node, presenters.gathering_for(node, gathering_id, me))


@router.post("/gatherings/{gathering_id}/notices", status_code=201)
def send_notice(
    gathering_id: UUID, body: schemas.NewNotice, node: Node, me: Acting
) -> schemas.Notice:
    """Organisers (or an agent with gatherings:write) tell the named participants something:
    local ones read it at /api/v1/me/notices, remote ones get it as a direct message."""
    presenters.gathering_for(node, gathering_id, me)
    outcome = node.gatherings.send_notice(me, gathering_id, body.text, body.id)
    node.read_your_writes(outcome.position)
    row = node.queries.notice(str(outcome.value))
    if row is None:
        raise NotFound("no such notice")
    return presenters.notice(node, row)


@router.get("/me/notices", dependencies=[Fresh])
def my_notices(node: Node, me: Me) -> list[schemas.Notice]:
    return [presenters.notice(node, row) for row in node.queries.notices_for(str(me))]


@router.post("/gatherings/{gathering_id}/registrations", status_code=201)
def register(
    gathering_id: UUID,
    node: Node,
    me: MaybeMe,
    body: Annotated[schemas.NewRegistration | None, Body()] = None,
) -> schemas.RegistrationAnswer:
    # Visibility is decided by the command itself (a private community's gathering is
    # not found by outsiders), which saves this hot path a read-model query.
    if me is not None:
        outcome = node.gatherings.register_person(me, gathering_id)
    else:
        outcome = node.gatherings.register_anonymous(gathering_id, body.email if body else None)
    done = outcome.value
    return schemas.RegistrationAnswer(
        id=done.registration_id, status=done.status.value, cancel_token=done.cancel_token
    )


@router.get("/gatherings/{gathering_id}/registrations", dependencies=[Fresh])
def participants(gathering_id: UUID, node: Node, me: Acting) -> schemas.Participants:
    """Organisers see who registered and how many anonymously; an agent with
    registrations:read sees the named participants only, never anonymous ones."""
    row = presenters.gathering_for(node, gathering_id, me)
    if me.agent is not None:
        me.reads(Scope.REGISTRATIONS_READ, row["community_id"])
    else:
        assert me.person_id is not None
        presenters.require_role(node, row["community_id"], me.person_id, presenters.ORGANISERS)
    return schemas.Participants(
        participants=[
            schemas.Participant(
                id=p["id"],
                username=p["username"],
                display_name=p["display_name"],
                actor_url=p["actor_url"] or _local_actor_url(node, p["username"]),
                status=p["status"],
            )
            for p in node.queries.participants(str(gathering_id))
        ],
        anonymous_count=None if me.agent else node.queries.anonymous_count(str(gathering_id)),
    )


def _local_actor_url(node: Container, username: str | None) -> str | None:
    """A local participant's actor id, as ``/me`` and federation give it."""
    return None if username is None else f"{node.settings.base_url}/users/{username}"


@router.post("/gatherings/{gathering_id}/registrations/{registration_id}/approve")
def approve(
    gathering_id: UUID, registration_id: UUID, node: Node, me: Me
) -> schemas.RegistrationAnswer:
    outcome = node.gatherings.approve_registration(me, gathering_id, registration_id)
    return schemas.RegistrationAnswer(id=registration_id, status=outcome.value.value)


@router.post("/gatherings/{gathering_id}/registrations/{registration_id}/decline", status_code=204)
def decline(gathering_id: UUID, registration_id: UUID, node: Node, me: Me) -> Response:
    node.gatherings.decline_registration(me, gathering_id, registration_id)
    return Response(status_code=204)


@router.delete("/registrations/{registration_id}", status_code=204)
def cancel_registration(
    registration_id: UUID,
    node: Node,
    me: MaybeMe,
    cancel_token: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    if me is None and cancel_token is None:
        raise NotFound("no such registration")
    node.gatherings.cancel_registration(registration_id, person_id=me, cancel_token=cancel_token)
    return Response(status_code=204)
