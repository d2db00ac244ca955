"""Request dependencies: the node's container and the caller's identity."""

from __future__ import annotations

from typing import Annotated, cast
from uuid import UUID

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from kunveno.application.errors import Unauthenticated
from kunveno.bootstrap import Container

_bearer = HTTPBearer(auto_error=False)


def get_container(request: Request) -> Container:
    return cast(Container, request.app.state.container)


def get_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str | None:
    return None if credentials is None else credentials.credentials


def optional_person(
    container: Annotated[Container, Depends(get_container)],
    token: Annotated[str | None, Depends(get_token)],
) -> UUID | None:
    return None if token is None else container.accounts.authenticate(token)


def current_person(person: Annotated[UUID | None, Depends(optional_person)]) -> UUID:
    if person is None:
        raise Unauthenticated("sign in first: send 'Authorization: Bearer TOKEN'")
    return person


def fresh_reads(request: Request) -> None:
    get_container(request).fresh_reads()


Node = Annotated[Container, Depends(get_container)]
# On every read route: the answer includes every write logged before the request.
Fresh = Depends(fresh_reads)
Token = Annotated[str | None, Depends(get_token)]
Me = Annotated[UUID, Depends(current_person)]
MaybeMe = Annotated[UUID | None, Depends(optional_person)]
