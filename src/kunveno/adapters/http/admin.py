"""The node's administration: blocks of whole servers (domains) and of single remote actors.

Administrators are the usernames in ``KUNVENO_ADMINS``; the same actions are on the command
line (``kunveno admin block|unblock|blocks``) for operators.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from fastapi import APIRouter, Response

from kunveno.domain.actor import Actor
from kunveno.domain.blocklist import normalise_entry
from kunveno.domain.errors import PermissionDenied
from kunveno.projections.store import from_timestamp

from . import schemas
from .deps import Fresh, Me, Node

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


def _require_admin(node: Node, me: UUID) -> None:
    person = node.queries.person(str(me))
    if person is None or person["username"] not in node.settings.admin_usernames:
        raise PermissionDenied("this needs an administrator of the node (KUNVENO_ADMINS)")


@router.get("/blocks", dependencies=[Fresh])
def blocks(node: Node, me: Me) -> list[schemas.Block]:
    _require_admin(node, me)
    return [
        schemas.Block(
            kind=row["kind"],
            value=row["value"],
            reason=row["reason"],
            blocked_at=from_timestamp(row["blocked_at"]),
        )
        for row in node.queries.blocks()
    ]


@router.post("/blocks", status_code=201)
def block(body: schemas.NewBlock, node: Node, me: Me) -> schemas.Block:
    _require_admin(node, me)
    value = normalise_entry(body.kind, body.value)
    outcome = node.federation.block(body.kind, value, body.reason, Actor.person(me))
    node.read_your_writes(outcome.position)
    [row] = [r for r in node.queries.blocks() if (r["kind"], r["value"]) == (body.kind, value)]
    return schemas.Block(
        kind=row["kind"],
        value=row["value"],
        reason=row["reason"],
        blocked_at=from_timestamp(row["blocked_at"]),
    )


@router.delete("/blocks/{kind}", status_code=204)
def unblock(kind: Literal["domain", "actor"], value: str, node: Node, me: Me) -> Response:
    _require_admin(node, me)
    node.federation.unblock(kind, normalise_entry(kind, value), Actor.person(me))
    return Response(status_code=204)
