"""The node's blocks of remote domains and actors, for the node's administrators (named in
``KUNVENO_ADMINS``), not a community's."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from kunveno.bootstrap import Container
from kunveno.domain.actor import Actor
from kunveno.domain.blocklist import normalise_entry
from kunveno.domain.errors import InvalidValue, NotFound, PermissionDenied

from ..rendering import container, form, require_visitor
from .desk import Fields, FormErrors, admin_page, done

router = APIRouter(include_in_schema=False)


def node_admin(request: Request) -> tuple[Container, UUID]:
    person = require_visitor(request)
    node = container(request)
    node.fresh_reads()
    row = node.queries.person(str(person))
    if row is None or row["username"] not in node.settings.admin_usernames:
        raise PermissionDenied("this is for the administrators of this server")
    return node, person


@router.get("/admin/blocks", response_class=HTMLResponse)
def blocks_page(request: Request) -> Response:
    node, _ = node_admin(request)
    return blocks(request, node)


def blocks(
    request: Request,
    node: Container,
    problem: FormErrors | None = None,
    typed: Fields | None = None,
) -> Response:
    return admin_page(
        request,
        "admin_blocks.html",
        problem,
        blocks=node.queries.blocks(),
        typed=typed or {"kind": "domain"},
    )


@router.post("/admin/blocks")
async def block(request: Request) -> Response:
    fields = await form(request)
    return await run_in_threadpool(_block, request, fields)


def _block(request: Request, fields: Fields) -> Response:
    node, person = node_admin(request)
    typed = {k: fields.get(k, "").strip()[:2000] for k in ("kind", "value", "reason")}
    try:
        if typed["kind"] not in ("domain", "actor"):
            raise FormErrors({"kind": "choose a domain or an actor"})
        if len(typed["reason"]) > 500:
            raise FormErrors({"reason": "a reason has at most 500 characters"})
        value = normalise_entry(typed["kind"], typed["value"])
        node.federation.block(typed["kind"], value, typed["reason"], Actor.person(person))
    except InvalidValue as error:
        return blocks(request, node, FormErrors({"value": error.detail}), typed)
    except FormErrors as problem:
        return blocks(request, node, problem, typed)
    return done(request, "/admin/blocks", "blocked")


@router.post("/admin/blocks/remove")
async def unblock(request: Request) -> Response:
    fields = await form(request)
    return await run_in_threadpool(_unblock, request, fields)


def _unblock(request: Request, fields: Fields) -> Response:
    node, person = node_admin(request)
    kind, value = fields.get("kind", ""), fields.get("value", "")
    if kind not in ("domain", "actor"):
        raise NotFound("there is no such block")
    node.federation.unblock(kind, normalise_entry(kind, value), Actor.person(person))
    return done(request, "/admin/blocks", "unblocked")
