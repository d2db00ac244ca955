"""A community's audit trail, for its admins: who did what, in the log's order, a page at a
time, filtered by who (a person, an agent, a remote actor) and by days."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from kunveno.bootstrap import Container
from kunveno.domain.errors import InvalidValue
from kunveno.projections.trail import AuditEntry, Trail, audit_actor

from .desk import BASE, Desk, Errors, Fields, FormErrors, desk, page

router = APIRouter(include_in_schema=False)


AUDIT_PAGE = 50


AUDIT_FILTERS = ("actor", "who", "since", "until")


@router.get(BASE + "/audit", response_class=HTMLResponse)
def audit_page(request: Request, slug: str) -> Response:
    """The community's trail in the log's order, a page at a time: ``after`` is where the
    page starts, ``back`` the starts of the pages before it (for "older")."""
    d = desk(request, slug, admins=True)
    asked = {k: request.query_params.get(k, "").strip()[:2000] for k in AUDIT_FILTERS}
    after = cursor(request.query_params.get("after"))
    back = [cursor(c) for c in request.query_params.get("back", "").split(".") if c][-50:]
    audit = partial(page, request, d, "admin_audit.html", "audit", typed=asked)
    try:
        actor, since, until = audit_filters(d.node, asked)
    except FormErrors as problem:
        return audit(problem, actors=actors_seen(d.node, d.id), entries=[])
    entries = Trail(d.node.read_store).entries(
        UUID(d.id), actor=actor, since=since, until=until, after=after, limit=AUDIT_PAGE + 1
    )
    shown = entries[:AUDIT_PAGE]
    more = len(entries) > AUDIT_PAGE
    return audit(
        actors=actors_seen(d.node, d.id),
        entries=shown,
        things=things(d, shown),
        newer=audit_link(d, asked, shown[-1].position, [*back, after]) if more else None,
        older=audit_link(d, asked, back[-1], back[:-1]) if back else None,
    )


def audit_filters(
    node: Container, asked: Fields
) -> tuple[str | None, datetime | None, datetime | None]:
    """Whose trail, from which day, to which day (included), as the trail takes them."""
    errors: Errors = {}
    actor = audit_who(node, asked["who"] or asked["actor"], errors)
    since = audit_day(asked["since"], "since", errors)
    until = audit_day(asked["until"], "until", errors)
    if since is not None and until is not None and since > until:
        errors["until"] = "the end comes before the start"
    if errors:
        raise FormErrors(errors)
    start = None if since is None else datetime.combine(since, time(), UTC)
    end = None if until is None else datetime.combine(until + timedelta(days=1), time(), UTC)
    return actor, start, end


def audit_link(d: Desk, asked: Fields, after: int, back: list[int]) -> str:
    query = {k: v for k, v in asked.items() if v} | {"after": str(after)}
    if back:
        query["back"] = ".".join(str(c) for c in back)
    return f"{d.base}/audit?{urlencode(query)}"


def cursor(text: str | None) -> int:
    try:
        return max(0, min(int(text or 0), 2**63 - 1))
    except ValueError:
        return 0


def audit_who(node: Container, text: str, errors: Errors) -> str | None:
    """Whose trail: ``person:ID``, ``agent:ID``, a remote actor's URL, or a username."""
    if not text:
        return None
    if ":" not in text:
        person = node.queries.person_named(text.lower())
        if person is None:
            errors["who"] = f"no one here is called {text[:60]!r}"
            return None
        return f"person:{person['id']}"
    try:
        return audit_actor(text)
    except InvalidValue as error:
        errors["who"] = error.detail
        return None


def audit_day(text: str, name: str, errors: Errors) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        errors[name] = f"not a date: {text[:40]!r} (like 2025-05-01)"
        return None


def actors_seen(node: Container, community_id: str) -> list[tuple[str, str]]:
    """Each person and agent the community's trail has seen act, named, for the filter."""
    rows = node.read_store.query(
        "SELECT DISTINCT t.actor FROM rm_trail t JOIN rm_trail_things k "
        "ON k.thing_id = t.originator_id WHERE k.community_id = %s",
        (community_id,),
    )
    actors = [a for a in (str(r["actor"]) for r in rows) if a.startswith(("person:", "agent:"))]
    labels = Trail(node.read_store).labels(actors[:1000])
    return sorted(((a, labels.get(a, a)) for a in actors[:1000]), key=lambda x: x[1].lower())


Thing = tuple[str, str, str | None]  # its kind, its name, its page


def things(d: Desk, entries: list[AuditEntry]) -> dict[str, Thing]:
    """What each entry happened to, named, with a link where there is a page for it."""
    named: dict[str, Thing] = {}
    for entry in entries:
        if entry.object_id not in named:
            named[entry.object_id] = thing(d, entry)
    return named


def thing(d: Desk, entry: AuditEntry) -> Thing:
    q, thing_id = d.node.queries, entry.object_id
    if thing_id == d.id or entry.action.startswith("follow."):
        return "community", str(d.community["name"]), None
    if (gathering := q.gathering(thing_id)) is not None:
        link = f"{d.base}/gatherings/{thing_id}/registrations"
        return "gathering", str(gathering["title"]), link
    if (agent := q.agent(thing_id)) is not None:
        return "agent", str(agent["name"]), f"{d.base}/agents/{thing_id}"
    return entry.action.partition(".")[0], thing_id[:8], None
