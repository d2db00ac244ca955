"""Posts in a community's timeline."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from kunveno.domain.agent import Scope
from kunveno.domain.errors import NotFound

from . import presenters, schemas
from .deps import Acting, Fresh, MaybeActing, Node

router = APIRouter(prefix="/api/v1", tags=["posts"])


@router.post("/communities/{slug}/posts", status_code=201, dependencies=[Fresh])
def publish(slug: str, body: schemas.NewPost, node: Node, me: Acting) -> schemas.Post:
    community = presenters.community_for(node, slug, me)
    outcome = node.posts.publish(me, slug, body.content, body.in_reply_to)
    node.read_your_writes(outcome.position)
    row = node.queries.post(str(outcome.value))
    if row is None:
        raise NotFound("no such post")
    return presenters.post(node, row, community["slug"])


@router.get("/communities/{slug}/posts", dependencies=[Fresh])
def timeline(slug: str, node: Node, me: MaybeActing) -> list[schemas.Post]:
    community = presenters.community_for(node, slug, me)
    if me is not None:
        me.reads(Scope.POSTS_READ, community["id"])
    rows = node.queries.timeline(community["id"])
    return [presenters.post(node, row, community["slug"]) for row in rows]


@router.patch("/posts/{post_id}", status_code=204)
def edit(post_id: UUID, body: schemas.PostEdit, node: Node, me: Acting) -> Response:
    node.posts.edit(me, post_id, body.content)
    return Response(status_code=204)


@router.delete("/posts/{post_id}", status_code=204)
def delete(post_id: UUID, node: Node, me: Acting) -> Response:
    node.posts.delete(me, post_id)
    return Response(status_code=204)
