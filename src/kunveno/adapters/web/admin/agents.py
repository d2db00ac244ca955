"""A community's agents, for its admins: making one (its token shown once), its scopes,
suspending, resuming and removing it, and enabling the built-in agents.

Built-in agents are enabled, and agents removed, through ``builtin_enabling`` as the API
does it, so a built-in's token is kept (and forgotten) the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from kunveno.adapters import builtin_enabling
from kunveno.bootstrap import Container
from kunveno.builtin_agents.catalogue import BUILTINS
from kunveno.domain.agent import Scope
from kunveno.domain.errors import Conflict, InvalidValue, NotFound
from kunveno.projections.store import Row

from ..rendering import redirect
from .desk import (
    BASE,
    Desk,
    Fields,
    FormErrors,
    act,
    desk,
    done,
    field_error,
    page,
    refusal,
    uuid_of,
)

router = APIRouter(include_in_schema=False)


SCOPES = tuple(scope.value for scope in Scope)  # in the order the page explains them


TOKEN_COOKIE = "kunveno_agent_token"  # noqa: S105 - a cookie's name, not a secret


@router.get(BASE + "/agents", response_class=HTMLResponse)
def agents_page(request: Request, slug: str) -> Response:
    return agents(request, desk(request, slug, admins=True))


def agents(
    request: Request, d: Desk, problem: FormErrors | None = None, typed: Fields | None = None
) -> Response:
    rows = [agent_item(d.node, row) for row in d.node.queries.agents(d.id)]
    enabled = {row["builtin"] for row in rows if row["builtin"]}
    return page(
        request,
        d,
        "admin_agents.html",
        "agents",
        problem=problem,
        typed=typed or {},
        agents=rows,
        scopes=SCOPES,
        chosen=chosen_scopes(typed or {}),
        builtins=list(BUILTINS.values()),
        enabled=enabled,
        builtins_running=d.node.settings.builtin_agents,
    )


def agent_item(node: Container, row: Row) -> dict[str, Any]:
    owner = node.queries.person(str(row["owner_id"]))
    return {
        **row,
        "scopes": json.loads(row["scopes"]),
        "owner": None if owner is None else owner["username"],
    }


def community_agent(d: Desk, agent_id: str) -> Row:
    row = d.node.queries.agent(str(uuid_of(agent_id)))
    if row is None or row["community_id"] != d.id:
        raise NotFound("no such agent")
    return row


def chosen_scopes(fields: Fields) -> list[str]:
    """Each scope is its own checkbox (``scope-posts:read``): the form reader keeps one
    value per name."""
    return [scope for scope in SCOPES if fields.get(f"scope-{scope}")]


@router.post(BASE + "/agents/new")
async def create_agent(request: Request, slug: str) -> Response:
    def do(d: Desk, fields: Fields) -> Response:
        typed = {
            "name": fields.get("name", "").strip(),
            "description": fields.get("description", ""),
        }
        scopes = chosen_scopes(fields)
        typed |= {f"scope-{scope}": "1" for scope in scopes}
        try:
            if not scopes:
                raise FormErrors({"scopes": "choose at least one thing the agent may do"})
            made = d.node.agents.create(
                d.person,
                d.slug,
                name=typed["name"],
                description=typed["description"],
                scopes=scopes,
            ).value
        except (InvalidValue, Conflict) as error:
            return agents(request, d, field_error(error, ("name", "description", "scopes")), typed)
        except FormErrors as problem:
            return agents(request, d, problem, typed)
        return token_once(request, d, str(made.agent_id), made.token)

    return await act(request, slug, do, admins=True)


def token_once(request: Request, d: Desk, agent_id: str, token: str) -> Response:
    """To the page that shows the token: it travels in a short-lived cookie for that page
    alone, which the page clears, so a reload (or the back button) cannot show it again."""
    to = f"{d.base}/agents/{agent_id}/token"
    response = redirect(request, to)
    secure = d.node.settings.base_url.startswith("https://")
    response.set_cookie(
        TOKEN_COOKIE, token, max_age=600, path=to, httponly=True, samesite="strict", secure=secure
    )
    return response


@router.get(BASE + "/agents/{agent_id}/token", response_class=HTMLResponse)
def agent_token(request: Request, slug: str, agent_id: str) -> Response:
    d = desk(request, slug, admins=True)
    row = community_agent(d, agent_id)
    token = request.cookies.get(TOKEN_COOKIE, "")
    mine = token.startswith(f"kva_{UUID(row['id']).hex}_")
    response = page(
        request,
        d,
        "admin_agent_token.html",
        "agents",
        agent=agent_item(d.node, row),
        token=mine and token,
    )
    response.delete_cookie(TOKEN_COOKIE, path=request.url.path)
    return response


@router.get(BASE + "/agents/{agent_id}", response_class=HTMLResponse)
def agent_page(request: Request, slug: str, agent_id: str) -> Response:
    d = desk(request, slug, admins=True)
    return agent(request, d, community_agent(d, agent_id))


def agent(request: Request, d: Desk, row: Row, problem: FormErrors | None = None) -> Response:
    return page(
        request,
        d,
        "admin_agent.html",
        "agents",
        problem=problem,
        agent=agent_item(d.node, row),
        scopes=SCOPES,
        audit=f"{d.base}/audit?" + urlencode({"actor": f"agent:{row['id']}"}),
    )


@router.post(BASE + "/agents/{agent_id}/scopes")
async def change_scopes(request: Request, slug: str, agent_id: str) -> Response:
    def do(d: Desk, fields: Fields) -> Response:
        row = community_agent(d, agent_id)
        scopes = chosen_scopes(fields)
        problem = refusal(lambda: d.node.agents.change_scopes(d.person, UUID(row["id"]), scopes))
        if problem is not None:
            return agent(request, d, row, problem)
        return done(request, f"{d.base}/agents/{row['id']}", "scopes")

    return await act(request, slug, do, admins=True)


@router.post(BASE + "/agents/{agent_id}/{what}")
async def control_agent(request: Request, slug: str, agent_id: str, what: str) -> Response:
    def do(d: Desk, _: Fields) -> Response:
        row = community_agent(d, agent_id)
        the_agent = UUID(row["id"])
        commands: dict[str, tuple[Callable[[], object], str]] = {
            "suspend": (lambda: d.node.agents.suspend(d.person, the_agent), "suspended"),
            "resume": (lambda: d.node.agents.resume(d.person, the_agent), "resumed"),
            # As the API removes one: a built-in's kept token is forgotten at once too.
            "remove": (
                lambda: builtin_enabling.remove_agent(d.node, d.person, the_agent),
                "agent-removed",
            ),
        }
        if what not in commands:
            raise NotFound("there is nothing at this address")
        command, what_done = commands[what]
        problem = refusal(command)
        if problem is not None:
            return agent(request, d, row, problem)
        to = f"{d.base}/agents" if what == "remove" else f"{d.base}/agents/{row['id']}"
        return done(request, to, what_done)

    return await act(request, slug, do, admins=True)


@router.post(BASE + "/builtins/{key}")
async def enable_builtin(request: Request, slug: str, key: str) -> Response:
    """A built-in agent, as the API enables one (the node keeps its token and runs it)."""

    def do(d: Desk, _: Fields) -> Response:
        problem = refusal(lambda: builtin_enabling.enable(d.node, d.person, d.slug, key))
        if problem is not None:
            return agents(request, d, problem)
        return done(request, f"{d.base}/agents", "enabled")

    return await act(request, slug, do, admins=True)
