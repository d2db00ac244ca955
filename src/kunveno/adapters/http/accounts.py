"""Accounts and sessions: sign up, sign in, sign out, who am I."""

from __future__ import annotations

from fastapi import APIRouter, Response

from kunveno.adapters.erasure import erase_person
from kunveno.domain.actor import Actor
from kunveno.domain.errors import NotFound
from kunveno.projections.store import from_timestamp

from . import schemas
from .deps import Fresh, Me, Node, Token

router = APIRouter(prefix="/api/v1", tags=["accounts"])


@router.post("/accounts", status_code=201)
def create_account(body: schemas.NewAccount, node: Node) -> schemas.Account:
    outcome = node.accounts.register(body.username, body.password, body.display_name, body.email)
    return schemas.Account(id=outcome.value, username=body.username.strip().lower())


@router.post("/sessions")
def create_session(body: schemas.Credentials, node: Node) -> schemas.Session:
    outcome = node.accounts.sign_in(body.username, body.password)
    return schemas.Session(token=outcome.value)


@router.delete("/sessions/current", status_code=204)
def end_session(node: Node, token: Token, me: Me) -> Response:
    assert token is not None  # ``me`` resolved, so a token was given
    node.accounts.sign_out(token)
    return Response(status_code=204)


@router.get("/me", dependencies=[Fresh])
def who_am_i(node: Node, me: Me) -> schemas.Me:
    row = node.queries.person(str(me))
    if row is None:
        raise NotFound("no such person")
    return schemas.Me(
        id=me,
        username=row["username"],
        display_name=row["display_name"],
        actor_url=f"{node.settings.base_url}/users/{row['username']}",
    )


@router.get("/me/registrations", dependencies=[Fresh])
def my_registrations(node: Node, me: Me) -> list[schemas.MyRegistration]:
    return [
        schemas.MyRegistration(
            id=row["id"],
            gathering_id=row["gathering_id"],
            title=row["title"],
            starts_at=from_timestamp(row["starts_at"]),
            status=row["status"],
        )
        for row in node.queries.registrations_of(str(me))
    ]


@router.delete("/me", status_code=204)
def erase_me(node: Node, me: Me) -> Response:
    """Erase me: my personal data becomes unreadable for good, my username stays reserved,
    peers are told to forget me, and my tokens stop working at once."""
    erase_person(node, me, Actor.person(me))
    return Response(status_code=204)
