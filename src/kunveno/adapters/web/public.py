"""The public pages: a community, a gathering, a person, a post; and what a visitor does there
(join, register signed in or anonymously, cancel with the cancel link, add to a calendar,
follow or share from their own fediverse server).

Each page shares its URL with an ActivityPub document: a request for ActivityStreams JSON is
handed to the federation handler, so one URL serves people and peers. Business rules stay in
the services and in ``presenters`` (who may see what); a page only shows their answers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import suppress
from urllib.parse import quote
from uuid import UUID

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from kunveno.adapters.activitypub import documents
from kunveno.adapters.http import federation, presenters
from kunveno.adapters.http.calendar import community_calendar
from kunveno.adapters.http.errors import Gone
from kunveno.bootstrap import Container
from kunveno.domain.community import JoinOutcome
from kunveno.domain.errors import AlreadyRegistered, InvalidValue, NotFound
from kunveno.projections.store import Row, from_timestamp

from . import i18n
from .reads import CannotAsk, PageReads, fill, parse_handle, parse_server, subscribe_template
from .rendering import container, dated, form, language, redirect, render, visitor

router = APIRouter(include_in_schema=False)
NOTICES = frozenset({"joined", "requested", "registered", "cancelled"})


def _gettext(request: Request) -> Callable[[str], str]:
    return i18n.translations(language(request)).gettext


def _uuid(text: str, what: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise NotFound(f"no such {what}") from None


def _notice(request: Request) -> str | None:
    asked = request.query_params.get("notice")
    return asked if asked in NOTICES else None


def _node(request: Request) -> Container:
    node = container(request)
    node.fresh_reads()
    return node


# -- a community -------------------------------------------------------------------------------


@router.get("/communities/{slug}", response_model=None)
def community_page(request: Request, slug: str) -> Response:
    node = _node(request)
    if federation.wants_activity_json(request):
        return federation.community(node, request, slug)
    row = presenters.visible_community(node, slug, visitor(request))
    reads = PageReads(node.read_store)
    gatherings = node.queries.gatherings(row["id"], node.clock.now(), None, limit=20)
    posts = node.queries.timeline(row["id"], limit=20)
    makers = reads.makers([g["id"] for g in gatherings])
    agents = node.queries.agent_names(list(makers.values()))
    person = visitor(request)
    return render(
        request,
        "community.html",
        community=row,
        handle=f"@{row['slug']}@{node.urls.host}",
        role=node.queries.role(row["id"], None if person is None else str(person)),
        asked=person is not None and reads.asked_to_join(row["id"], str(person)),
        gatherings=[
            {**dated(g, "starts_at", "ends_at"), "agent": agents.get(makers.get(g["id"], ""))}
            for g in gatherings
        ],
        posts=[dated(p, "published_at") for p in posts],
        authors=reads.authors([p["author"] for p in posts]),
        notice=_notice(request),
    )


@router.post("/communities/{slug}/join", response_model=None)
async def join(request: Request, slug: str) -> Response:
    await form(request)
    return await run_in_threadpool(_join, request, slug)


def _join(request: Request, slug: str) -> Response:
    node = container(request)
    person = visitor(request)
    if person is None:
        return redirect(request, f"/signin?then={quote(f'/communities/{slug}')}")
    outcome = node.communities.join(person, slug)
    node.read_your_writes(outcome.position)
    notice = "joined" if outcome.value is JoinOutcome.MEMBER else "requested"
    return redirect(request, f"/communities/{quote(slug)}?notice={notice}")


# -- following a community from another server ------------------------------------------------


def _published(node: Container, request: Request, slug: str) -> Row:
    """A community others may follow: a public one (members-only ones are not published)."""
    row = presenters.visible_community(node, slug, visitor(request))
    if row["visibility"] != "public":
        raise NotFound("only public communities can be followed from other servers")
    return row


@router.get("/communities/{slug}/follow", response_model=None)
def follow_form(request: Request, slug: str) -> Response:
    node = _node(request)
    return _follow_page(request, node, _published(node, request, slug))


@router.post("/communities/{slug}/follow", response_model=None)
async def follow(request: Request, slug: str) -> Response:
    typed = (await form(request)).get("handle", "")
    return await run_in_threadpool(_follow, request, slug, typed[:300])


def _follow(request: Request, slug: str, typed: str) -> Response:
    node = _node(request)
    row = _published(node, request, slug)
    _ = _gettext(request)
    handle = parse_handle(typed)
    if handle is None:
        error = _("Enter your handle as name@your.server, for example alex@social.example.")
        return _follow_page(request, node, row, typed, error=error, status=422)
    if handle[1] == node.urls.host.lower():
        error = _("This handle is on this server: sign in here and join the community.")
        return _follow_page(request, node, row, typed, error=error, status=422)
    allow_http = node.settings.federation_allow_http
    try:
        template = subscribe_template(node.http, handle, allow_http=allow_http)
    except CannotAsk:
        error = _("Your server %(host)s did not answer. Check your handle and try again.")
        return _follow_page(
            request, node, row, typed, error=error % {"host": handle[1]}, status=502
        )
    link = None if template is None else fill(template, node.urls.community(row["slug"]))
    return _follow_page(request, node, row, typed, link=link, server=handle[1])


def _follow_page(
    request: Request,
    node: Container,
    row: Row,
    typed: str = "",
    *,
    error: str | None = None,
    status: int = 200,
    link: str | None = None,
    server: str | None = None,
) -> Response:
    return render(
        request,
        "follow.html",
        status=status,
        community=row,
        handle=f"@{row['slug']}@{node.urls.host}",
        values={"handle": typed},
        errors={"handle": error} if error else {},
        link=link,
        server=server,
    )


# -- a gathering -------------------------------------------------------------------------------


@router.get("/gatherings/{gathering_id}", response_model=None)
def gathering_page(request: Request, gathering_id: str) -> Response:
    node = _node(request)
    if federation.wants_activity_json(request):
        return federation.gathering(node, request, gathering_id)
    return _gathering(request, node, _uuid(gathering_id, "gathering"))


def _gathering(
    request: Request,
    node: Container,
    gathering_id: UUID,
    *,
    status: int = 200,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    person = visitor(request)
    row = presenters.visible_gathering(node, gathering_id, person)
    capacity = row["capacity"]
    confirmed = int(row["registration_count"])
    maker = node.queries.made_by(row["id"]) or ""
    mine = (
        None
        if person is None
        else PageReads(node.read_store).registration_of(row["id"], str(person))
    )
    return render(
        request,
        "gathering.html",
        status=status,
        g=dated(row, "starts_at", "ends_at"),
        seats_left=None if capacity is None else max(0, int(capacity) - confirmed),
        over=from_timestamp(row["ends_at"]) <= node.clock.now(),
        agent=node.queries.agent_names([maker]).get(maker),
        mine=mine,
        url=node.urls.gathering(row["id"]),
        notice=_notice(request),
        values=values or {},
        errors=errors or {},
    )


@router.post("/gatherings/{gathering_id}/register", response_model=None)
async def register(request: Request, gathering_id: str) -> Response:
    fields = await form(request)
    return await run_in_threadpool(_register, request, gathering_id, fields)


def _register(request: Request, gathering_id: str, fields: dict[str, str]) -> Response:
    node = container(request)
    key = _uuid(gathering_id, "gathering")
    person = visitor(request)
    if person is not None:
        with suppress(AlreadyRegistered):  # a second click on the button: already done
            node.read_your_writes(node.gatherings.register_person(person, key).position)
        return redirect(request, f"/gatherings/{key}?notice=registered")
    email = fields.get("email", "").strip()[:300]
    try:
        outcome = node.gatherings.register_anonymous(key, email or None)
    except InvalidValue:
        _ = _gettext(request)
        error = _("Enter an email address like name@example.org, or leave it empty.")
        node.fresh_reads()
        return _gathering(
            request, node, key, status=422, values={"email": email}, errors={"email": error}
        )
    node.read_your_writes(outcome.position)
    done = outcome.value
    return redirect(
        request, f"/registrations/{done.registration_id}?token={quote(done.cancel_token or '')}"
    )


@router.get("/gatherings/{gathering_id}/calendar.ics", response_model=None)
def gathering_calendar(request: Request, gathering_id: str) -> Response:
    node = _node(request)
    row = presenters.visible_gathering(node, _uuid(gathering_id, "gathering"), visitor(request))
    body = community_calendar(node, {"name": row["title"]}, [row])
    disposition = f'attachment; filename="gathering-{row["id"][:8]}.ics"'
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": disposition},
    )


@router.get("/gatherings/{gathering_id}/share", response_model=None)
def share(request: Request, gathering_id: str, server: str = "") -> Response:
    """Share on the visitor's own server: a link to its share page, never a redirect."""
    node = _node(request)
    row = presenters.visible_gathering(node, _uuid(gathering_id, "gathering"), visitor(request))
    host = parse_server(server[:300]) if server else None
    _, error = _gettext(request), None
    if server and host is None:
        error = _("Enter your server's name, for example social.example.")
    text = f"{row['title']}\n{node.urls.gathering(row['id'])}"
    link = None if host is None else f"https://{host}/share?text={quote(text, safe='')}"
    return render(
        request,
        "share.html",
        status=422 if error else 200,
        g=row,
        values={"server": server[:300]},
        errors={"server": error} if error else {},
        link=link,
        server=host,
    )


# -- a registration: the answer page and cancelling --------------------------------------------


def _registration(
    request: Request, node: Container, registration_id: str, token: str
) -> tuple[Row, Row]:
    """The registration and its gathering, for its person or the holder of its cancel link."""
    row = node.queries.registration(str(_uuid(registration_id, "registration")))
    person = visitor(request)
    mine = row is not None and person is not None and row["person_id"] == str(person)
    if row is None or not (mine or (token and row["kind"] == "anonymous")):
        raise NotFound("no such registration")
    gathering = presenters.visible_gathering(node, UUID(row["gathering_id"]), person)
    return row, dated(gathering, "starts_at", "ends_at")


@router.get("/registrations/{registration_id}", response_model=None)
def registration_page(request: Request, registration_id: str, token: str = "") -> Response:
    node = _node(request)
    row, gathering = _registration(request, node, registration_id, token)
    cancel = f"/registrations/{row['id']}/cancel"
    if token:
        cancel += f"?token={quote(token)}"
    return render(
        request,
        "registration.html",
        registration=row,
        g=gathering,
        token=token,
        cancel_path=cancel,
        cancel_url=node.settings.base_url + cancel,
    )


@router.get("/registrations/{registration_id}/cancel", response_model=None)
def cancel_form(request: Request, registration_id: str, token: str = "") -> Response:
    node = _node(request)
    row, gathering = _registration(request, node, registration_id, token)
    return render(request, "registration_cancel.html", registration=row, g=gathering, token=token)


@router.post("/registrations/{registration_id}/cancel", response_model=None)
async def cancel(request: Request, registration_id: str) -> Response:
    token = (await form(request)).get("token", "")[:200]
    return await run_in_threadpool(_cancel, request, registration_id, token or None)


def _cancel(request: Request, registration_id: str, token: str | None) -> Response:
    node = container(request)
    key = _uuid(registration_id, "registration")
    outcome = node.gatherings.cancel_registration(
        key, person_id=visitor(request), cancel_token=token
    )
    node.read_your_writes(outcome.position)
    row = node.queries.registration(str(key))
    if row is None:
        raise NotFound("no such registration")
    return redirect(request, f"/gatherings/{row['gathering_id']}?notice=cancelled")


# -- a person, a post --------------------------------------------------------------------------


@router.get("/users/{username}", response_model=None)
def person_page(request: Request, username: str) -> Response:
    node = _node(request)
    if federation.wants_activity_json(request):
        return federation.person(node, request, username)
    row = node.queries.person_named(username.lower())
    if row is None:
        raise NotFound("no such person")
    return render(request, "person.html", person=row, handle=f"@{row['username']}@{node.urls.host}")


@router.get("/agents/{agent_id}", response_model=None)
def agent_page(request: Request, agent_id: str) -> Response:
    """What an agent is, who runs it (its community's admins), and what it may do."""
    node = _node(request)
    if federation.wants_activity_json(request):
        return federation.agent(node, request, agent_id)
    row = node.queries.agent(str(_uuid(agent_id, "agent")))
    community = None if row is None else node.queries.community_by_id(row["community_id"])
    if row is None or community is None:
        raise NotFound("no such agent")
    presenters.visible_community(node, community["slug"], visitor(request))
    if row["status"] == "removed":
        raise Gone("this agent was removed by its community's admins")
    return render(
        request,
        "agent.html",
        agent=row,
        community=community,
        scopes=json.loads(row["scopes"]),
        handle=f"@{documents.agent_handle(row['id'])}@{node.urls.host}",
    )


@router.get("/posts/{post_id}", response_model=None)
def post_page(request: Request, post_id: str) -> Response:
    node = _node(request)
    if federation.wants_activity_json(request):
        return federation.post(node, request, post_id)
    row = node.queries.post(str(_uuid(post_id, "post")))
    community = None if row is None else node.queries.community_by_id(row["community_id"])
    if row is None or community is None:
        raise NotFound("no such post")
    presenters.visible_community(node, community["slug"], visitor(request))
    if row["deleted"]:
        raise Gone("this post was deleted")
    author = PageReads(node.read_store).authors([row["author"]])[row["author"]]
    return render(
        request,
        "post.html",
        post=dated(row, "published_at", "edited_at"),
        community=community,
        author=author,
    )
