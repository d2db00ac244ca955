"""Read-model rows to API answers, and the visibility rule every read goes through."""

from __future__ import annotations

from uuid import UUID

from kunveno.application.callers import Caller
from kunveno.bootstrap import Container
from kunveno.domain.errors import NotFound, PermissionDenied
from kunveno.projections.store import Row, from_timestamp

from . import schemas


def visible_community(node: Container, slug: str, viewer: UUID | None) -> Row:
    """A private community is invisible (404, not 403) to non-members: SECURITY I-9."""
    row = node.queries.community(slug.lower())
    if row is None or (
        row["visibility"] == "private" and node.queries.role(row["id"], _str(viewer)) is None
    ):
        raise NotFound("no such community")
    return row


def community_for(node: Container, slug: str, caller: Caller | None) -> Row:
    """The community as a person sees it, or, for an agent, its own community only."""
    if caller is None or caller.agent is None:
        return visible_community(node, slug, None if caller is None else caller.person_id)
    row = node.queries.community(slug.lower())
    if row is None:
        raise NotFound("no such community")
    if row["id"] != str(caller.agent.community_id):
        raise PermissionDenied("an agent acts only in its own community")
    return row


def gathering_for(node: Container, gathering_id: UUID, caller: Caller | None) -> Row:
    if caller is None or caller.agent is None:
        return visible_gathering(node, gathering_id, None if caller is None else caller.person_id)
    row = node.queries.gathering(str(gathering_id))
    if row is None:
        raise NotFound("no such gathering")
    if row["community_id"] != str(caller.agent.community_id):
        raise PermissionDenied("an agent acts only in its own community")
    return row


def by_agent(node: Container, actor: str | None) -> schemas.ByAgent | None:
    if actor is None or not actor.startswith("agent:"):
        return None
    name = node.queries.agent_names([actor]).get(actor, "?")
    return schemas.ByAgent(id=UUID(actor.partition(":")[2]), name=name, label=f"by agent {name}")


def visible_gathering(node: Container, gathering_id: UUID, viewer: UUID | None) -> Row:
    row = node.queries.gathering(str(gathering_id))
    if row is None or (
        row["community_visibility"] == "private"
        and node.queries.role(row["community_id"], _str(viewer)) is None
    ):
        raise NotFound("no such gathering")
    return row


def require_role(node: Container, community_id: str, person: UUID, roles: set[str]) -> None:
    if node.queries.role(community_id, str(person)) not in roles:
        raise PermissionDenied("this needs an organiser of the community")


ORGANISERS = {"owner", "admin", "moderator"}
ADMINS = {"owner", "admin"}


def _str(value: UUID | None) -> str | None:
    return None if value is None else str(value)


def community(node: Container, row: Row) -> schemas.Community:
    return schemas.Community(
        id=row["id"],
        slug=row["slug"],
        name=row["name"],
        summary=row["summary"],
        visibility=row["visibility"],
        membership=row["membership"],
        member_count=int(row["member_count"]),
        url=f"{node.settings.base_url}/communities/{row['slug']}",
        founded_at=from_timestamp(row["founded_at"]),
    )


def gathering(node: Container, row: Row) -> schemas.Gathering:
    capacity = row["capacity"]
    confirmed = int(row["registration_count"])
    url = node.urls.gathering(row["id"])
    reactions = node.queries.reaction_counts(url)
    return schemas.Gathering(
        id=row["id"],
        url=url,
        like_count=reactions["like"],
        announce_count=reactions["announce"],
        community=row["community_slug"],
        title=row["title"],
        description=row["description"],
        starts_at=from_timestamp(row["starts_at"]),
        ends_at=from_timestamp(row["ends_at"]),
        timezone=row["timezone"],
        location=row["location"],
        online_url=row["online_url"],
        capacity=capacity,
        join_mode=row["join_mode"],
        anonymous_registration=bool(row["anonymous_registration"]),
        status=row["status"],
        registration_count=confirmed,
        remaining_capacity=None if capacity is None else max(0, int(capacity) - confirmed),
        waitlist_count=int(row["waitlist_count"]),
        pending_count=int(row["pending_count"]),
        by_agent=by_agent(node, node.queries.made_by(row["id"])),
    )


def post(node: Container, row: Row, slug: str) -> schemas.Post:
    url = node.urls.post(row["id"])
    reactions = node.queries.reaction_counts(url)
    return schemas.Post(
        id=row["id"],
        url=url,
        like_count=reactions["like"],
        announce_count=reactions["announce"],
        community=slug,
        author=row["author"],
        by_agent=by_agent(node, row["author"]),
        content=row["content"],
        in_reply_to=row["in_reply_to"],
        published_at=from_timestamp(row["published_at"]),
        edited_at=None if row["edited_at"] is None else from_timestamp(row["edited_at"]),
    )


def notice(node: Container, row: Row) -> schemas.Notice:
    return schemas.Notice(
        id=row["id"],
        gathering_id=row["gathering_id"],
        gathering_title=row["gathering_title"],
        text=row["text"],
        sent_at=from_timestamp(row["sent_at"]),
        actor=row["actor"],
        by_agent=by_agent(node, row["actor"]),
    )
