"""Agents: made, listed and controlled by a community's admins; an agent reads itself."""

from __future__ import annotations

import json
from uuid import UUID

from fastapi import APIRouter, Response

from kunveno.adapters import builtin_enabling
from kunveno.bootstrap import Container
from kunveno.builtin_agents.catalogue import BUILTINS
from kunveno.domain.errors import NotFound, PermissionDenied
from kunveno.projections.store import Row, from_timestamp

from . import presenters, schemas
from .deps import Acting, Fresh, Me, Node

router = APIRouter(prefix="/api/v1", tags=["agents"])


@router.post("/communities/{slug}/agents", status_code=201)
def create_agent(slug: str, body: schemas.NewAgent, node: Node, me: Me) -> schemas.AgentCreated:
    """An agent of the community's own (the answer shows its token, once), or a built-in
    (``{"builtin": "reminder"}``): the node keeps a built-in's token and runs it."""
    if body.builtin is not None:
        return _enable_builtin(slug, body, node, me)
    assert body.name is not None  # the schema checked both
    assert body.scopes is not None
    outcome = node.agents.create(
        me, slug, name=body.name, description=body.description or "", scopes=body.scopes
    )
    node.read_your_writes(outcome.position)
    made = outcome.value
    return schemas.AgentCreated(agent=_agent(node, _row(node, made.agent_id)), token=made.token)


@router.get("/communities/{slug}/agents", dependencies=[Fresh])
def list_agents(slug: str, node: Node, me: Me) -> list[schemas.Agent]:
    community = presenters.visible_community(node, slug, me)
    presenters.require_role(node, community["id"], me, presenters.ADMINS)
    return [_agent(node, row) for row in node.queries.agents(community["id"])]


@router.get("/agents/me", dependencies=[Fresh])
def this_agent(node: Node, caller: Acting) -> schemas.Agent:
    """An agent's own record: its id, community and scopes."""
    if caller.agent is None:
        raise NotFound("this is for agents: a person's account is at /api/v1/me")
    return _agent(node, _row(node, caller.agent.id))


@router.get("/agents/builtins")
def builtin_agents(node: Node) -> list[schemas.BuiltinAgent]:
    """The built-in agents a community's admins can enable, with the scopes each takes."""
    running = node.settings.builtin_agents
    return [
        schemas.BuiltinAgent(
            key=b.key,
            name=b.name,
            description=b.description,
            scopes=list(b.scopes),
            why=b.why,
            running=running,
        )
        for b in BUILTINS.values()
    ]


@router.get("/agents/{agent_id}", dependencies=[Fresh])
def one_agent(agent_id: UUID, node: Node, me: Me) -> schemas.Agent:
    node.agents.require_admin_of(me, node.agents.load(agent_id))
    return _agent(node, _row(node, agent_id))


@router.patch("/agents/{agent_id}", dependencies=[Fresh])
def change_agent(agent_id: UUID, body: schemas.AgentChange, node: Node, me: Me) -> schemas.Agent:
    node.read_your_writes(node.agents.change_scopes(me, agent_id, body.scopes).position)
    return _agent(node, _row(node, agent_id))


@router.post("/agents/{agent_id}/suspend", dependencies=[Fresh])
def suspend_agent(agent_id: UUID, node: Node, me: Me) -> schemas.Agent:
    node.read_your_writes(node.agents.suspend(me, agent_id).position)
    return _agent(node, _row(node, agent_id))


@router.post("/agents/{agent_id}/resume", dependencies=[Fresh])
def resume_agent(agent_id: UUID, node: Node, me: Me) -> schemas.Agent:
    node.read_your_writes(node.agents.resume(me, agent_id).position)
    return _agent(node, _row(node, agent_id))


@router.delete("/agents/{agent_id}", status_code=204)
def remove_agent(agent_id: UUID, node: Node, me: Me) -> Response:
    builtin_enabling.remove_agent(node, me, agent_id)  # a built-in's token is forgotten too
    return Response(status_code=204)


def _enable_builtin(
    slug: str, body: schemas.NewAgent, node: Container, me: UUID
) -> schemas.AgentCreated:
    community = presenters.visible_community(node, slug, me)
    presenters.require_role(node, community["id"], me, presenters.ADMINS)
    made = builtin_enabling.enable(
        node,
        me,
        slug,
        str(body.builtin),
        name=body.name,
        description=body.description,
        scopes=body.scopes,
    ).value
    return schemas.AgentCreated(agent=_agent(node, _row(node, made.agent_id)), token=None)


def _row(node: Container, agent_id: UUID) -> Row:
    row = node.queries.agent(str(agent_id))
    if row is None:
        raise NotFound("no such agent")
    return row


def _agent(node: Container, row: Row) -> schemas.Agent:
    community = node.queries.community_by_id(row["community_id"])
    if community is None:
        raise PermissionDenied("this agent's community is gone")
    return schemas.Agent(
        id=row["id"],
        community=community["slug"],
        name=row["name"],
        description=row["description"],
        scopes=json.loads(row["scopes"]),
        status=row["status"],
        builtin=row["builtin"],
        owner_id=row["owner_id"],
        actor=f"agent:{row['id']}",
        url=node.urls.agent(row["id"]),
        created_at=from_timestamp(row["created_at"]),
        changed_at=from_timestamp(row["changed_at"]),
    )
