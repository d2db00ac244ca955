"""Communities and membership."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from kunveno.domain.agent import Scope
from kunveno.domain.community import Membership, Role, Visibility
from kunveno.domain.names import normalise_slug
from kunveno.projections.store import from_timestamp

from . import presenters, schemas
from .deps import Acting, Fresh, MaybeActing, MaybeMe, Me, Node

router = APIRouter(prefix="/api/v1/communities", tags=["communities"])


@router.post("", status_code=201)
def found_community(body: schemas.NewCommunity, node: Node, me: Me) -> schemas.Community:
    outcome = node.communities.found(
        me,
        slug=body.slug,
        name=body.name,
        summary=body.summary,
        visibility=Visibility(body.visibility),
        membership=Membership(body.membership),
    )
    node.read_your_writes(outcome.position)
    # Answer under the slug as stored (" Menders " is stored as "menders").
    slug = normalise_slug(body.slug)
    return presenters.community(node, presenters.visible_community(node, slug, me))


@router.get("", dependencies=[Fresh])
def directory(node: Node, me: MaybeMe) -> list[schemas.Community]:
    viewer = None if me is None else str(me)
    return [presenters.community(node, row) for row in node.queries.directory(viewer)]


@router.get("/{slug}", dependencies=[Fresh])
def one_community(slug: str, node: Node, me: MaybeActing) -> schemas.Community:
    return presenters.community(node, presenters.community_for(node, slug, me))


@router.post("/{slug}/members", status_code=201)
def join(slug: str, node: Node, me: Me) -> schemas.JoinAnswer:
    outcome = node.communities.join(me, slug)
    return schemas.JoinAnswer(status=outcome.value.value)


@router.get("/{slug}/members", dependencies=[Fresh])
def members(slug: str, node: Node, me: MaybeActing) -> list[schemas.Member]:
    row = presenters.community_for(node, slug, me)
    if me is not None:
        me.reads(Scope.MEMBERS_READ, row["id"])
    return [schemas.Member(**m) for m in node.queries.members(row["id"])]


@router.delete("/{slug}/members/me", status_code=204)
def leave(slug: str, node: Node, me: Me) -> Response:
    node.communities.leave(me, slug)
    return Response(status_code=204)


@router.delete("/{slug}/members/{person_id}", status_code=204)
def remove_member(slug: str, person_id: UUID, node: Node, me: Me) -> Response:
    node.communities.remove(me, slug, person_id)
    return Response(status_code=204)


@router.patch("/{slug}/members/{person_id}")
def change_role(
    slug: str, person_id: UUID, body: schemas.RoleChange, node: Node, me: Me
) -> schemas.Member:
    outcome = node.communities.change_role(me, slug, person_id, Role.from_label(body.role))
    node.read_your_writes(outcome.position)
    row = presenters.visible_community(node, slug, me)
    found = [m for m in node.queries.members(row["id"]) if m["person_id"] == str(person_id)]
    return schemas.Member(**found[0])


@router.get("/{slug}/join-requests", dependencies=[Fresh])
def join_requests(slug: str, node: Node, me: Acting) -> list[schemas.Member]:
    row = presenters.community_for(node, slug, me)
    if me.agent is not None:
        me.reads(Scope.MEMBERS_READ, row["id"])
    else:
        assert me.person_id is not None
        presenters.require_role(node, row["id"], me.person_id, presenters.ORGANISERS)
    return [schemas.Member(**r, role="pending") for r in node.queries.join_requests(row["id"])]


@router.post("/{slug}/join-requests/{person_id}/approve", status_code=204)
def approve(slug: str, person_id: UUID, node: Node, me: Acting) -> Response:
    presenters.community_for(node, slug, me)
    node.communities.approve(me, slug, person_id)
    return Response(status_code=204)


@router.post("/{slug}/join-requests/{person_id}/reject", status_code=204)
def reject(slug: str, person_id: UUID, node: Node, me: Acting) -> Response:
    presenters.community_for(node, slug, me)
    node.communities.reject(me, slug, person_id)
    return Response(status_code=204)


@router.post("/{slug}/invitations", status_code=204)
def invite(slug: str, body: schemas.Invitation, node: Node, me: Me) -> Response:
    person_id = node.accounts.person_id_for(body.username)
    node.communities.invite(me, slug, person_id)
    return Response(status_code=204)


# -- remote followers (ActivityPub) ---------------------------------------------------------


@router.get("/{slug}/followers", dependencies=[Fresh])
def followers(
    slug: str, node: Node, me: Me, status: str = "accepted"
) -> list[schemas.RemoteFollower]:
    """Admins see who follows from elsewhere; ``?status=pending`` lists follow requests."""
    row = presenters.visible_community(node, slug, me)
    presenters.require_role(node, row["id"], me, presenters.ADMINS)
    return [
        schemas.RemoteFollower(
            actor_url=f["follower"], status=f["status"], since=from_timestamp(f["changed_at"])
        )
        for f in node.queries.followers(row["id"], status)
    ]


@router.post("/{slug}/followers/accept", status_code=204)
def accept_follower(slug: str, body: schemas.FollowerDecision, node: Node, me: Me) -> Response:
    return _decide_follower(node, me, slug, body.actor_url, accept=True)


@router.post("/{slug}/followers/reject", status_code=204)
def reject_follower(slug: str, body: schemas.FollowerDecision, node: Node, me: Me) -> Response:
    """Refuse a request, or remove a follower: they are sent a Reject."""
    return _decide_follower(node, me, slug, body.actor_url, accept=False)


def _decide_follower(node: Node, me: UUID, slug: str, actor_url: str, *, accept: bool) -> Response:
    community_id = node.communities.id_for(slug)
    node.federation.decide_follow(
        me, community_id, actor_url, node.urls.community(normalise_slug(slug)), accept=accept
    )
    return Response(status_code=204)
