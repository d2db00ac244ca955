"""Request dependencies: the node's container and who is asking (a person or an agent)."""

from __future__ import annotations

from typing import Annotated, Any, cast
from uuid import UUID

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from kunveno.application.agents import is_agent_token
from kunveno.application.callers import Caller
from kunveno.application.errors import Unauthenticated
from kunveno.bootstrap import Container
from kunveno.domain.errors import PermissionDenied

_bearer = HTTPBearer(auto_error=False)


def get_container(request: Request) -> Container:
    return cast(Container, request.app.state.container)


def get_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str | None:
    return None if credentials is None else credentials.credentials


def optional_caller(
    request: Request,
    container: Annotated[Container, Depends(get_container)],
    token: Annotated[str | None, Depends(get_token)],
) -> Caller | None:
    """The person or agent the token names. An agent's status is read from the log on every
    request, so a suspension or removal holds from the very next one."""
    if token is None:
        return None
    if not is_agent_token(token):
        return Caller.person(container.accounts.authenticate(token))
    agent = container.agents.authenticate(token)
    # From here a refusal is recorded in the agent's trail (see errors.py).
    request.state.agent_id = agent.id
    cast(Any, request.app.state).agent_limits.take(agent.id)
    if not agent.active:
        raise PermissionDenied(f"this agent is {agent.status.value}")
    return Caller.of_agent(agent)


def current_caller(caller: Annotated[Caller | None, Depends(optional_caller)]) -> Caller:
    if caller is None:
        raise Unauthenticated("sign in first: send 'Authorization: Bearer TOKEN'")
    return caller


def optional_person(caller: Annotated[Caller | None, Depends(optional_caller)]) -> UUID | None:
    """A person only: what agents may do is listed route by route (``Acting``)."""
    if caller is None:
        return None
    if caller.agent is not None:
        raise PermissionDenied("agents may not use this endpoint")
    return caller.person_id


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
# Routes an agent may use too (each checks the scope it needs).
Acting = Annotated[Caller, Depends(current_caller)]
MaybeActing = Annotated[Caller | None, Depends(optional_caller)]
