"""Local people and remote things: follow a remote community or person, see the gatherings
of those they follow, and register for one (a Join to its server)."""

from __future__ import annotations

import json

from fastapi import APIRouter, Response

from kunveno.adapters.activitypub.fetching import FetchError
from kunveno.adapters.activitypub.processor import event_details
from kunveno.adapters.activitypub.vocabulary import InvalidActivity
from kunveno.application.outgoing import Target
from kunveno.domain.errors import DomainError, InvalidValue
from kunveno.domain.outgoing import RequestKind, RequestStatus
from kunveno.projections.store import Row, from_timestamp

from . import schemas
from .deps import Fresh, Me, Node
from .errors import RemoteUnavailable

router = APIRouter(prefix="/api/v1", tags=["remote"])

# Refusals of the address itself are the caller's to fix; the rest is the other server's.
_CALLERS_FAULT = frozenset({"url_invalid", "scheme_refused", "address_refused", "local_id"})


def remote_error(error: FetchError | InvalidActivity) -> DomainError:
    if isinstance(error, FetchError) and error.code in _CALLERS_FAULT:
        return InvalidValue(f"{error.code}: {error.detail}")
    return RemoteUnavailable(f"{error.code}: {error.detail}")


@router.post("/me/following", status_code=201)
def follow_remote(body: schemas.RemoteAddress, node: Node, me: Me) -> schemas.OutgoingRequest:
    try:
        actor = node.resolver.actor(body.address)
    except (FetchError, InvalidActivity) as error:
        raise remote_error(error) from None
    outcome = node.outgoing.request(RequestKind.FOLLOW, me, Target(actor.id, actor.inbox))
    return schemas.OutgoingRequest(target=actor.id, status=outcome.value.value)


@router.get("/me/following", dependencies=[Fresh])
def following(node: Node, me: Me) -> list[schemas.OutgoingRequest]:
    return [_request(row) for row in node.queries.outgoing(str(me), RequestKind.FOLLOW.value)]


@router.delete("/me/following", status_code=204)
def unfollow_remote(target: str, node: Node, me: Me) -> Response:
    node.outgoing.withdraw(RequestKind.FOLLOW, me, target)
    return Response(status_code=204)


@router.get("/remote/gatherings", dependencies=[Fresh])
def remote_gatherings(node: Node, me: Me) -> list[schemas.RemoteGathering]:
    return [_gathering(row) for row in node.queries.remote_gatherings_for(str(me))]


@router.post("/remote/registrations", status_code=201)
def join_remote(body: schemas.RemoteGatheringRef, node: Node, me: Me) -> schemas.OutgoingRequest:
    """Register for a gathering of another server: a Join, answered by its organiser."""
    try:
        event, _ = node.resolver.event(body.url)
        organiser = node.resolver.actor(event.attributed_to or "")
    except (FetchError, InvalidActivity) as error:
        raise remote_error(error) from None
    if event.status == "cancelled":
        raise InvalidValue("this gathering is cancelled")
    node.outgoing.hear_gathering(event.id, organiser.id, event_details(event), by=organiser.id)
    outcome = node.outgoing.request(RequestKind.JOIN, me, Target(event.id, organiser.inbox))
    return schemas.OutgoingRequest(target=event.id, status=outcome.value.value)


@router.get("/me/remote-registrations", dependencies=[Fresh])
def remote_registrations(node: Node, me: Me) -> list[schemas.OutgoingRequest]:
    return [_request(row) for row in node.queries.outgoing(str(me), RequestKind.JOIN.value)]


@router.delete("/remote/registrations", status_code=204)
def leave_remote(url: str, node: Node, me: Me) -> Response:
    node.outgoing.withdraw(RequestKind.JOIN, me, url)
    return Response(status_code=204)


def _request(row: Row) -> schemas.OutgoingRequest:
    return schemas.OutgoingRequest(
        target=row["target"],
        status=RequestStatus(row["status"]).value,
        since=from_timestamp(row["changed_at"]),
    )


def _gathering(row: Row) -> schemas.RemoteGathering:
    # The stored details carry the schema's own names (see processor.event_details).
    details = json.loads(row["details"])
    return schemas.RemoteGathering.model_validate(
        {**details, "url": row["url"], "organiser": row["organiser"]}
    )


# -- moving to another server --------------------------------------------------------------


@router.put("/me/aliases")
def set_aliases(body: schemas.Aliases, node: Node, me: Me) -> schemas.AliasesAnswer:
    """Name the accounts you move here from (a Move from them needs it)."""
    try:
        urls = [node.resolver.actor(address).id for address in body.aliases]
    except (FetchError, InvalidActivity) as error:
        raise remote_error(error) from None
    node.accounts.set_aliases(me, urls)
    return schemas.AliasesAnswer(also_known_as=urls)


@router.post("/me/move", status_code=202)
def move(body: schemas.RemoteAddress, node: Node, me: Me) -> schemas.OutgoingRequest:
    """Move to another account: your followers are told, and follow it instead."""
    person = node.accounts.load(me)
    own_url = node.urls.person(person.username)
    try:
        target = node.resolver.actor(body.address, refresh=True)
    except (FetchError, InvalidActivity) as error:
        raise remote_error(error) from None
    if own_url not in target.also_known_as:
        raise InvalidValue(
            f"{target.id} does not name {own_url} among its aliases: add it there first"
        )
    node.accounts.move(me, target.id)
    return schemas.OutgoingRequest(target=target.id, status="accepted")
