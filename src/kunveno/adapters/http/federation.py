"""Where peers find us and read us: WebFinger, NodeInfo, host-meta, actors, events, collections.

Every actor and gathering has one URL: ActivityPub JSON for an ActivityStreams ``Accept``,
a page otherwise (content negotiation, CONTRACT "Where things live"). The pages' routes
(``adapters/web``) come first and hand ActivityStreams requests to the handlers here.
"""

from __future__ import annotations

import html
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from kunveno import __version__
from kunveno.adapters.activitypub import documents
from kunveno.adapters.activitypub.documents import (
    ACCEPTED_MEDIA_TYPES,
    AGENT_HANDLE,
    AP_MEDIA_TYPE,
)
from kunveno.application.federation import INSTANCE_ID
from kunveno.domain.actor import Actor, ActorKind
from kunveno.domain.agent import AgentStatus
from kunveno.domain.errors import InvalidValue, NotFound
from kunveno.projections.store import Row

from . import inbox
from .deps import Fresh, Node
from .errors import Gone

router = APIRouter(tags=["federation"], dependencies=[Fresh])

JRD = "application/jrd+json"
NODEINFO_SCHEMA = "http://nodeinfo.diaspora.software/ns/schema/{version}"


def wants_activity_json(request: Request) -> bool:
    accept = request.headers.get("accept", "").lower()
    return any(media_type in accept for media_type in ACCEPTED_MEDIA_TYPES)


def activity_json(document: dict[str, Any], status_code: int = 200) -> JSONResponse:
    # Vary: the same URL answers a page or JSON by Accept, so caches must tell them apart.
    return JSONResponse(
        document, status_code=status_code, media_type=AP_MEDIA_TYPE, headers={"Vary": "Accept"}
    )


# -- discovery ------------------------------------------------------------------------------


@router.get("/.well-known/webfinger")
def webfinger(node: Node, resource: str = "") -> JSONResponse:
    urls = node.urls
    agent = _webfinger_agent(node, resource)
    if agent is not None:
        name = documents.agent_handle(agent["id"])
        url = profile = urls.agent(agent["id"])
    else:
        name = _webfinger_name(node, resource)
        if name == urls.host:
            url, profile = urls.instance, f"{urls.base}/"
        else:
            url = _actor_url_for_name(node, name)
            profile = url
    links: list[dict[str, str]] = [
        {"rel": "self", "type": AP_MEDIA_TYPE, "href": url},
        {"rel": "http://webfinger.net/rel/profile-page", "type": "text/html", "href": profile},
    ]
    if url != urls.instance:
        links.append(
            {
                "rel": "http://ostatus.org/schema/1.0/subscribe",
                "template": f"{urls.base}/authorize_interaction?uri={{uri}}",
            }
        )
    body = {"subject": urls.acct(name), "aliases": [url], "links": links}
    return JSONResponse(body, media_type=JRD, headers={"Access-Control-Allow-Origin": "*"})


def _webfinger_name(node: Node, resource: str) -> str:
    """The local name a resource asks for: ``acct:NAME@HOST`` or one of our actor URLs."""
    urls = node.urls
    if resource.startswith("acct:"):
        name, _, host = resource.removeprefix("acct:").rpartition("@")
        if host.lower() != urls.host.lower() or not name:
            raise NotFound("no such account here")
        return name.lower()
    for prefix in (f"{urls.base}/users/", f"{urls.base}/communities/"):
        if resource.startswith(prefix) and "/" not in resource.removeprefix(prefix):
            return resource.removeprefix(prefix).lower()
    if resource in (urls.instance, f"{urls.base}/"):
        return urls.host
    if not resource:
        raise InvalidValue("give a resource: ?resource=acct:NAME@HOST")
    raise NotFound("no such account here")


def _webfinger_agent(node: Node, resource: str) -> Row | None:
    """The agent a resource names (its URL, or ``acct:agent.HEX@HOST``), or None if it names
    something else. A removed agent is gone (410: Mastodon then drops the account)."""
    urls = node.urls
    agent_id: str | None = None
    prefix = f"{urls.base}/agents/"
    if resource.startswith(prefix):
        agent_id = resource.removeprefix(prefix)
    elif resource.startswith("acct:"):
        name, _, host = resource.removeprefix("acct:").rpartition("@")
        handle = AGENT_HANDLE.fullmatch(name.lower())
        if handle is None or host.lower() != urls.host.lower():
            return None
        agent_id = _agent_id_for_handle(node, handle.group(1))
    else:
        return None
    row, _ = _published_agent(node, agent_id or "")
    if row["status"] == AgentStatus.REMOVED.value:
        raise Gone("this agent was removed")
    return row


def _agent_id_for_handle(node: Node, hexes: str) -> str | None:
    """The agent whose id starts with these 12 hex digits (the oldest, should two ever)."""
    rows = node.read_store.query(
        "SELECT id FROM rm_agents WHERE id LIKE %s ORDER BY created_at, id LIMIT 1",
        (f"{hexes[:8]}-{hexes[8:]}-%",),
    )
    return str(rows[0]["id"]) if rows else None


def _actor_url_for_name(node: Node, name: str) -> str:
    if node.queries.person_named(name) is not None:
        return node.urls.person(name)
    community = node.queries.community(name)
    if community is not None and community["visibility"] == "public":
        return node.urls.community(name)
    raise NotFound("no such account here")


@router.get("/.well-known/nodeinfo")
def nodeinfo_links(node: Node) -> JSONResponse:
    base = node.urls.base
    links = [
        {"rel": NODEINFO_SCHEMA.format(version=v), "href": f"{base}/nodeinfo/{v}"}
        for v in ("2.0", "2.1")
    ]
    # FEP-2677: the application actor, which Gancio follows.
    links.append(
        {"rel": "https://www.w3.org/ns/activitystreams#Application", "href": f"{base}/actor"}
    )
    return JSONResponse({"links": links})


@router.get("/nodeinfo/{version}")
def nodeinfo(node: Node, version: str) -> JSONResponse:
    if version not in ("2.0", "2.1"):
        raise NotFound("NodeInfo is served in versions 2.0 and 2.1")
    usage = node.queries.usage()
    software: dict[str, str] = {"name": "kunveno", "version": __version__}
    if version == "2.1":
        software["repository"] = "https://codeberg.org/kunveno/kunveno"
    body = {
        "version": version,
        "software": software,
        "protocols": ["activitypub"],
        "services": {"inbound": [], "outbound": []},
        "openRegistrations": True,
        "usage": {
            "users": {
                "total": usage["users"],
                "activeMonth": usage["users"],
                "activeHalfyear": usage["users"],
            },
            "localPosts": usage["posts"],
        },
        "metadata": {"nodeName": node.urls.host},
    }
    profile = f'application/json; profile="{NODEINFO_SCHEMA.format(version=version)}#"'
    return JSONResponse(body, media_type=profile)


@router.get("/.well-known/host-meta")
def host_meta(node: Node) -> Response:
    template = html.escape(f"{node.urls.base}/.well-known/webfinger?resource={{uri}}", quote=True)
    xrd = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">'
        f'<Link rel="lrdd" type="application/xrd+xml" template="{template}"/></XRD>'
    )
    return Response(xrd, media_type="application/xrd+xml")


# -- actors and objects ---------------------------------------------------------------------


@router.get("/actor")
def instance_actor(node: Node) -> JSONResponse:
    return activity_json(
        documents.instance_actor(node.urls, node.keys.key_pair("instance").public_pem)
    )


@router.get("/users/{username}", response_model=None)
def person(node: Node, request: Request, username: str) -> Response:
    row = _person_row(node, username)
    pem = node.keys.key_pair(f"person:{row['id']}").public_pem
    return activity_json(documents.person_actor(node.urls, row, pem))


@router.get("/communities/{slug}", response_model=None)
def community(node: Node, request: Request, slug: str) -> Response:
    row = _public_community(node, slug)
    pem = node.keys.key_pair(f"community:{row['id']}").public_pem
    return activity_json(
        documents.community_actor(node.urls, row, pem, member_count=int(row["member_count"]))
    )


@router.get("/agents/{agent_id}", response_model=None)
def agent(node: Node, request: Request, agent_id: str) -> Response:
    """A community's agent: a ``Service`` actor (shown as a bot), its community's own."""
    row, community = _published_agent(node, agent_id)
    url = node.urls.agent(row["id"])
    if row["status"] == AgentStatus.REMOVED.value:
        return activity_json(documents.tombstone(url, "Service", row["changed_at"]), 410)
    pem = node.keys.key_pair(f"agent:{row['id']}").public_pem
    return activity_json(documents.agent_actor(node.urls, row, community, pem))


@router.post("/agents/{agent_id}/inbox")
async def agent_inbox(node: Node, request: Request, agent_id: str) -> Response:
    """The same door as every inbox (verified, recorded, acted on by what it says); a
    removed agent's is gone (410), so senders stop."""
    await run_in_threadpool(_present_agent, node, agent_id)
    return await inbox.shared_inbox(request)


@router.get("/gatherings/{gathering_id}", response_model=None)
def gathering(node: Node, request: Request, gathering_id: str) -> Response:
    row = _public_gathering(node, gathering_id)
    return activity_json(documents.gathering_event(node.urls, row))


@router.get("/posts/{post_id}", response_model=None)
def post(node: Node, request: Request, post_id: str) -> Response:
    row, community = _public_post(node, post_id)
    if row["deleted"]:
        deleted_at = row["edited_at"] or None
        tombstone = documents.tombstone(node.urls.post(row["id"]), "Note", deleted_at)
        return activity_json(tombstone, 410)
    author = _author_url(node, row["author"])
    note = documents.post_note(
        node.urls,
        post_id=row["id"],
        author=author,
        community=node.urls.community(community["slug"]),
        content=row["content"],
        published=row["published_at"],
        in_reply_to=row["in_reply_to"],
    )
    return activity_json({"@context": documents.CONTEXT, **note})


def _public_post(node: Node, post_id: str) -> tuple[Row, Row]:
    try:
        key = str(UUID(post_id))
    except ValueError:
        raise NotFound("no such post") from None
    row = node.queries.post(key)
    community = None if row is None else node.queries.community_by_id(row["community_id"])
    if row is None or community is None or community["visibility"] != "public":
        raise NotFound("no such post")
    return row, community


def _author_url(node: Node, author: str) -> str:
    actor = Actor.parse(author)
    if actor.person_id is not None:
        person = node.queries.person(str(actor.person_id))
        if person is not None:
            return node.urls.person(person["username"])
    if actor.kind is ActorKind.AGENT:
        return node.urls.agent(actor.ref)
    return actor.ref


@router.get("/activities/{key}")
def activity(node: Node, key: str) -> JSONResponse:
    document = node.outbox.activity(node.urls.activity(key))
    if document is None:
        raise NotFound("no such activity")
    return activity_json(document)


# -- collections ----------------------------------------------------------------------------


@router.get("/communities/{slug}/followers")
def community_followers(node: Node, slug: str) -> JSONResponse:
    row = _public_community(node, slug)
    url = f"{node.urls.community(row['slug'])}/followers"
    # Who follows is the followers' business: the count is public, the list is not.
    return activity_json(documents.ordered_collection(url, node.queries.follower_count(row["id"])))


@router.get("/users/{username}/followers")
def person_followers(node: Node, username: str) -> JSONResponse:
    row = _person_row(node, username)
    url = f"{node.urls.person(row['username'])}/followers"
    return activity_json(documents.ordered_collection(url, node.queries.follower_count(row["id"])))


@router.get("/agents/{agent_id}/followers")
def agent_followers(node: Node, agent_id: str) -> JSONResponse:
    row = _present_agent(node, agent_id)
    url = f"{node.urls.agent(row['id'])}/followers"
    return activity_json(documents.ordered_collection(url, node.queries.follower_count(row["id"])))


@router.get("/actor/followers")
def instance_followers(node: Node) -> JSONResponse:
    url = f"{node.urls.instance}/followers"
    total = node.queries.follower_count(str(INSTANCE_ID))
    return activity_json(documents.ordered_collection(url, total))


@router.get("/communities/{slug}/following")
def community_following(node: Node, slug: str) -> JSONResponse:
    row = _public_community(node, slug)
    return activity_json(
        documents.ordered_collection(f"{node.urls.community(row['slug'])}/following", 0, [])
    )


@router.get("/users/{username}/following")
def person_following(node: Node, username: str) -> JSONResponse:
    row = _person_row(node, username)
    return activity_json(
        documents.ordered_collection(f"{node.urls.person(row['username'])}/following", 0, [])
    )


@router.get("/agents/{agent_id}/following")
def agent_following(node: Node, agent_id: str) -> JSONResponse:
    row = _present_agent(node, agent_id)
    return activity_json(
        documents.ordered_collection(f"{node.urls.agent(row['id'])}/following", 0, [])
    )


@router.get("/communities/{slug}/outbox")
def community_outbox(node: Node, slug: str) -> JSONResponse:
    row = _public_community(node, slug)
    return _outbox(node, node.urls.community(row["slug"]))


@router.get("/users/{username}/outbox")
def person_outbox(node: Node, username: str) -> JSONResponse:
    row = _person_row(node, username)
    return _outbox(node, node.urls.person(row["username"]))


@router.get("/agents/{agent_id}/outbox")
def agent_outbox(node: Node, agent_id: str) -> JSONResponse:
    row = _present_agent(node, agent_id)
    return _outbox(node, node.urls.agent(row["id"]))


@router.get("/actor/outbox")
def instance_outbox(node: Node) -> JSONResponse:
    return _outbox(node, node.urls.instance)


def _outbox(node: Node, actor_url: str) -> JSONResponse:
    items = node.outbox.public_activities(actor_url, limit=20)
    total = node.outbox.public_count(actor_url)
    return activity_json(documents.ordered_collection(f"{actor_url}/outbox", total, items))


# -- rows, with the visibility rule -----------------------------------------------------------


def _person_row(node: Node, username: str) -> Row:
    row = node.queries.person_named(username.lower())
    if row is None:
        raise NotFound("no such person")
    return row


def _public_community(node: Node, slug: str) -> Row:
    """Members-only communities are not published to the fediverse at all (404, I-9)."""
    row = node.queries.community(slug.lower())
    if row is None or row["visibility"] != "public":
        raise NotFound("no such community")
    return row


def _published_agent(node: Node, agent_id: str) -> tuple[Row, Row]:
    """An agent of a public community (removed ones too: they answer 410) and its community.
    A members-only community's agents are not published, as the community is not."""
    try:
        key = str(UUID(agent_id))
    except ValueError:
        raise NotFound("no such agent") from None
    row = node.queries.agent(key)
    community = None if row is None else node.queries.community_by_id(row["community_id"])
    if row is None or community is None or community["visibility"] != "public":
        raise NotFound("no such agent")
    return row, community


def _present_agent(node: Node, agent_id: str) -> Row:
    row, _ = _published_agent(node, agent_id)
    if row["status"] == AgentStatus.REMOVED.value:
        raise Gone("this agent was removed")
    return row


def _public_gathering(node: Node, gathering_id: str) -> Row:
    try:
        key = str(UUID(gathering_id))
    except ValueError:
        raise NotFound("no such gathering") from None
    row = node.queries.gathering(key)
    if row is None or row["community_visibility"] != "public":
        raise NotFound("no such gathering")
    return row
