"""Community admin pages: what a community's moderators and admins do from a browser (members
and join requests, gatherings and their registrations, agents and the audit trail, followers
from the fediverse), and the node's blocks for the node's administrators.

Each page asks who is visiting as the API does: outsiders of a members-only community get 404,
members without a moderating role 403, and every action is decided again by the services, by
the domain's rules. Moderators see what they may do; admins see everything. A form that does
not pass comes back as typed, with the error under its field (422).

Built-in agents are enabled and removed through the client API's own route functions, so a
built-in's token is kept (and forgotten) exactly as the API does it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import Any
from urllib.parse import urlencode
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_datetime
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from kunveno.adapters.http import agents as agents_api
from kunveno.adapters.http import schemas
from kunveno.bootstrap import Container
from kunveno.builtin_agents.catalogue import BUILTINS
from kunveno.domain.actor import Actor
from kunveno.domain.agent import Scope
from kunveno.domain.blocklist import normalise_entry
from kunveno.domain.community import Role
from kunveno.domain.errors import Conflict, DomainError, InvalidValue, NotFound, PermissionDenied
from kunveno.domain.gathering import GatheringDetails, JoinMode
from kunveno.projections.store import Row, from_timestamp
from kunveno.projections.trail import AuditEntry, Trail, audit_actor

from .rendering import container, form, language, redirect, render, require_visitor

router = APIRouter(include_in_schema=False)

BASE = "/communities/{slug}/admin"
ORGANISERS = frozenset({"owner", "admin", "moderator"})
ADMINS = frozenset({"owner", "admin"})
SCOPES = tuple(scope.value for scope in Scope)  # in the order the page explains them
AUDIT_PAGE = 50
PAST_SHOWN = 50
TOKEN_COOKIE = "kunveno_agent_token"  # noqa: S105 - a cookie's name, not a secret
ZONES = (
    "UTC", "Europe/London", "Europe/Dublin", "Europe/Lisbon", "Europe/Paris", "Europe/Brussels",
    "Europe/Amsterdam", "Europe/Berlin", "Europe/Zurich", "Europe/Vienna", "Europe/Rome",
    "Europe/Madrid", "Europe/Copenhagen", "Europe/Oslo", "Europe/Stockholm", "Europe/Helsinki",
    "Europe/Warsaw", "Europe/Prague", "Europe/Budapest", "Europe/Bucharest", "Europe/Athens",
    "Europe/Kyiv", "Europe/Istanbul", "Europe/Moscow", "Africa/Casablanca", "Africa/Lagos",
    "Africa/Cairo", "Africa/Nairobi", "Africa/Johannesburg", "America/St_Johns",
    "America/Halifax", "America/New_York", "America/Toronto", "America/Chicago",
    "America/Mexico_City", "America/Denver", "America/Phoenix", "America/Los_Angeles",
    "America/Vancouver", "America/Anchorage", "Pacific/Honolulu", "America/Bogota",
    "America/Lima", "America/Sao_Paulo", "America/Argentina/Buenos_Aires", "America/Santiago",
    "Asia/Dubai", "Asia/Tehran", "Asia/Karachi", "Asia/Kolkata", "Asia/Kathmandu", "Asia/Dhaka",
    "Asia/Bangkok", "Asia/Jakarta", "Asia/Singapore", "Asia/Shanghai", "Asia/Hong_Kong",
    "Asia/Taipei", "Asia/Manila", "Asia/Seoul", "Asia/Tokyo", "Australia/Perth",
    "Australia/Adelaide", "Australia/Brisbane", "Australia/Sydney", "Pacific/Auckland",
)  # fmt: skip

Fields = dict[str, str]
Errors = dict[str, str]


class FormErrors(Exception):
    """A form that does not pass: an error per field ("" for the form as a whole)."""

    def __init__(self, errors: Errors, status: int = 422) -> None:
        super().__init__(errors)
        self.errors = errors
        self.status = status


# -- who is at the desk ------------------------------------------------------------------------


@dataclass(frozen=True)
class Desk:
    """A community's admin pages as one of its organisers sees them."""

    node: Container
    person: UUID
    community: Row
    role: str

    @property
    def id(self) -> str:
        return str(self.community["id"])

    @property
    def slug(self) -> str:
        return str(self.community["slug"])

    @property
    def base(self) -> str:
        return f"/communities/{self.slug}/admin"

    @property
    def is_admin(self) -> bool:
        return self.role in ADMINS


def desk(request: Request, slug: str, *, admins: bool = False) -> Desk:
    """The visitor at a community's desk: 404 to outsiders of a members-only community (it is
    invisible to them), 403 to members who do not organise (or, for ``admins``, administer)."""
    person = require_visitor(request)
    node = container(request)
    node.fresh_reads()
    community = node.queries.community(slug.strip().lower())
    role = None if community is None else node.queries.role(community["id"], str(person))
    if community is None or (community["visibility"] == "private" and role is None):
        raise NotFound("no such community")
    if role not in (ADMINS if admins else ORGANISERS):
        raise PermissionDenied(
            "only an admin of the community may do this"
            if admins
            else "this is for the community's moderators and admins"
        )
    return Desk(node, person, community, role)


def rank(role: str | None) -> int:
    return 0 if role is None else Role.from_label(role).value


def page(
    request: Request,
    d: Desk,
    template: str,
    section: str,
    problem: FormErrors | None = None,
    **context: Any,
) -> Response:
    """An admin page of ``d``'s community; with ``problem``, the form that did not pass."""
    return admin_page(
        request, template, problem, desk=d, community=d.community, section=section, **context
    )


def admin_page(
    request: Request, template: str, problem: FormErrors | None, **context: Any
) -> Response:
    """What each admin page carries: what was just done, times, and any form's errors. Kept
    out of caches: it shows people's names (and once, an agent's token)."""
    context.setdefault("typed", {})
    response = render(
        request,
        template,
        status=200 if problem is None else problem.status,
        errors={} if problem is None else problem.errors,
        done=request.query_params.get("done", ""),
        stamp=partial(stamp, lang=language(request)),
        **context,
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


def stamp(moment: datetime | str, *, lang: str) -> str:
    """A time in a list, short, in UTC (the pages add the visitor's own time)."""
    when = from_timestamp(moment) if isinstance(moment, str) else moment
    return format_datetime(when, "d MMM y, HH:mm 'UTC'", tzinfo=UTC, locale=lang)


def done(request: Request, to: str, what: str) -> Response:
    """After an action: back to its page, which says what was done."""
    return redirect(request, f"{to}?done={what}")


async def act(
    request: Request,
    slug: str,
    do: Callable[[Desk, Fields], Response],
    *,
    admins: bool = False,
) -> Response:
    """A posted form: its token checked, then ``do`` off the event loop (the log blocks)."""
    fields = await form(request)
    return await run_in_threadpool(lambda: do(desk(request, slug, admins=admins), fields))


def refusal(run: Callable[[], object]) -> FormErrors | None:
    """Run a command; a refusal the person can act on (a bad value, a conflict) is answered
    on the page; not allowed or not found becomes the error page."""
    try:
        run()
    except (InvalidValue, Conflict) as error:
        return FormErrors({"": error.detail}, _status(error))
    return None


def _status(error: DomainError) -> int:
    return 409 if isinstance(error, Conflict) else 422


def uuid_of(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise NotFound("there is nothing at this address") from None


# Which field a domain error is about, by the words of its message (the domain names the
# value it refused, not the form's field).
_FIELD_WORDS = (
    ("ends after", "ends_at"),
    ("utc offset", "starts_at"),
    ("timezone", "timezone"),
    ("title", "title"),
    ("location", "location"),
    ("online link", "online_url"),
    ("capacity", "capacity"),
    ("confirmed", "capacity"),
    ("notice", "text"),
    ("scope", "scopes"),
    ("name", "name"),
    ("description", "description"),
    ("domain", "value"),
    ("actor", "value"),
    ("url", "value"),
)


def field_error(error: DomainError, fields: Iterable[str]) -> FormErrors:
    names = set(fields)
    detail = error.detail.lower()
    field = next((f for word, f in _FIELD_WORDS if word in detail and f in names), "")
    return FormErrors({field: error.detail}, _status(error))


# -- overview ----------------------------------------------------------------------------------


@router.get(BASE, response_class=HTMLResponse)
def overview(request: Request, slug: str) -> Response:
    d = desk(request, slug)
    q = d.node.queries
    now = d.node.clock.now()
    return page(
        request,
        d,
        "admin_overview.html",
        "overview",
        pending=len(q.join_requests(d.id)),
        members=len(q.members(d.id)),
        upcoming=len(q.gatherings(d.id, now, None)),
        agents=len(q.agents(d.id)) if d.is_admin else 0,
        follow_requests=len(q.followers(d.id, "pending")) if d.is_admin else 0,
    )


# -- members -----------------------------------------------------------------------------------


@router.get(BASE + "/members", response_class=HTMLResponse)
def members_page(request: Request, slug: str) -> Response:
    return members(request, desk(request, slug))


def members(request: Request, d: Desk, problem: FormErrors | None = None, **typed: str) -> Response:
    q = d.node.queries
    roles = [r.label for r in Role if r is not Role.OWNER or d.role == "owner"]
    return page(
        request,
        d,
        "admin_members.html",
        "members",
        problem=problem,
        typed=typed,
        requests=q.join_requests(d.id),
        members=q.members(d.id),
        roles=roles,
        my_rank=rank(d.role),
        rank=rank,
    )


@router.post(BASE + "/members/{person_id}/approve")
async def approve_member(request: Request, slug: str, person_id: str) -> Response:
    return await _membership(request, slug, person_id, "approve")


@router.post(BASE + "/members/{person_id}/reject")
async def reject_member(request: Request, slug: str, person_id: str) -> Response:
    return await _membership(request, slug, person_id, "reject")


@router.post(BASE + "/members/{person_id}/remove")
async def remove_member(request: Request, slug: str, person_id: str) -> Response:
    return await _membership(request, slug, person_id, "remove")


async def _membership(request: Request, slug: str, person_id: str, what: str) -> Response:
    def do(d: Desk, _: Fields) -> Response:
        who = uuid_of(person_id)
        commands: dict[str, Callable[[UUID, str, UUID], object]] = {
            "approve": d.node.communities.approve,
            "reject": d.node.communities.reject,
            "remove": d.node.communities.remove,
        }
        problem = refusal(lambda: commands[what](d.person, d.slug, who))
        if problem is not None:
            return members(request, d, problem)
        return done(request, f"{d.base}/members", f"member-{what.removesuffix('e')}ed")

    return await act(request, slug, do)


@router.post(BASE + "/members/{person_id}/role")
async def change_role(request: Request, slug: str, person_id: str) -> Response:
    def do(d: Desk, fields: Fields) -> Response:
        who = uuid_of(person_id)
        problem = refusal(
            lambda: d.node.communities.change_role(
                d.person, d.slug, who, Role.from_label(fields.get("role", ""))
            )
        )
        if problem is not None:
            return members(request, d, problem)
        return done(request, f"{d.base}/members", "role")

    return await act(request, slug, do, admins=True)


@router.post(BASE + "/members/invite")
async def invite(request: Request, slug: str) -> Response:
    def do(d: Desk, fields: Fields) -> Response:
        username = fields.get("username", "").strip()[:100]
        try:
            d.node.communities.invite(d.person, d.slug, d.node.accounts.person_id_for(username))
        except (NotFound, InvalidValue, Conflict) as error:
            problem = FormErrors({"username": error.detail}, _status(error))
            return members(request, d, problem, username=username)
        return done(request, f"{d.base}/members", "invited")

    return await act(request, slug, do)


# -- gatherings --------------------------------------------------------------------------------

GATHERING_FIELDS = (
    "title",
    "description",
    "starts_at",
    "ends_at",
    "timezone",
    "location",
    "online_url",
    "capacity",
    "join_mode",
    "anonymous_registration",
)


@router.get(BASE + "/gatherings", response_class=HTMLResponse)
def gatherings_page(request: Request, slug: str) -> Response:
    return gatherings(request, desk(request, slug))


def gatherings(request: Request, d: Desk, problem: FormErrors | None = None) -> Response:
    now = d.node.clock.now()
    rows = d.node.queries.all_gatherings(d.id)
    upcoming = [r for r in rows if from_timestamp(r["ends_at"]) > now]
    past = [r for r in reversed(rows) if from_timestamp(r["ends_at"]) <= now][:PAST_SHOWN]
    return page(
        request,
        d,
        "admin_gatherings.html",
        "gatherings",
        problem=problem,
        upcoming=[gathering_item(d.node, r) for r in upcoming],
        past=[gathering_item(d.node, r) for r in past],
    )


def gathering_item(node: Container, row: Row) -> dict[str, Any]:
    """A gathering as the lists show it: times as times, and who made it when an agent did."""
    return {
        **row,
        "starts": from_timestamp(row["starts_at"]),
        "ends": from_timestamp(row["ends_at"]),
        "agent": agent_name(node, node.queries.made_by(row["id"])),
    }


def agent_name(node: Container, actor: str | None) -> str | None:
    """The agent's name when ``actor`` is an agent: what it did is shown as the agent's."""
    if actor is None or not actor.startswith("agent:"):
        return None
    return node.queries.agent_names([actor]).get(actor, "?")


def community_gathering(d: Desk, gathering_id: str) -> Row:
    row = d.node.queries.gathering(str(uuid_of(gathering_id)))
    if row is None or row["community_id"] != d.id:
        raise NotFound("no such gathering")
    return row


@router.get(BASE + "/gatherings/new", response_class=HTMLResponse)
def new_gathering(request: Request, slug: str) -> Response:
    d = desk(request, slug)
    return gathering_form(request, d, None, blank_gathering(d))


def blank_gathering(d: Desk) -> Fields:
    """A new gathering's form: in the time zone of the community's latest gathering."""
    rows = d.node.queries.all_gatherings(d.id)
    zone = str(rows[-1]["timezone"]) if rows else "UTC"
    return dict.fromkeys(GATHERING_FIELDS, "") | {"timezone": zone, "join_mode": "free"}


def gathering_form(
    request: Request,
    d: Desk,
    gathering: Row | None,
    typed: Fields,
    problem: FormErrors | None = None,
) -> Response:
    return page(
        request,
        d,
        "admin_gathering_form.html",
        "gatherings",
        problem=problem,
        typed=typed,
        gathering=gathering,
        zones=ZONES,
    )


@router.post(BASE + "/gatherings/new")
async def schedule(request: Request, slug: str) -> Response:
    def do(d: Desk, fields: Fields) -> Response:
        typed = typed_gathering(fields)
        try:
            details, capacity = read_gathering(typed)
            d.node.gatherings.schedule(d.person, d.slug, details, capacity)
        except (InvalidValue, Conflict) as error:
            return gathering_form(request, d, None, typed, field_error(error, GATHERING_FIELDS))
        except FormErrors as problem:
            return gathering_form(request, d, None, typed, problem)
        return done(request, f"{d.base}/gatherings", "scheduled")

    return await act(request, slug, do)


@router.get(BASE + "/gatherings/{gathering_id}/edit", response_class=HTMLResponse)
def edit_gathering(request: Request, slug: str, gathering_id: str) -> Response:
    d = desk(request, slug)
    row = community_gathering(d, gathering_id)
    return gathering_form(request, d, row, gathering_values(row))


@router.post(BASE + "/gatherings/{gathering_id}/edit")
async def change_gathering(request: Request, slug: str, gathering_id: str) -> Response:
    def do(d: Desk, fields: Fields) -> Response:
        row = community_gathering(d, gathering_id)
        typed = typed_gathering(fields)
        try:
            details, capacity = read_gathering(typed)
            d.node.gatherings.change(d.person, UUID(row["id"]), details, capacity)
        except (InvalidValue, Conflict) as error:
            return gathering_form(request, d, row, typed, field_error(error, GATHERING_FIELDS))
        except FormErrors as problem:
            return gathering_form(request, d, row, typed, problem)
        return done(request, f"{d.base}/gatherings", "changed")

    return await act(request, slug, do)


@router.post(BASE + "/gatherings/{gathering_id}/cancel")
async def cancel_gathering(request: Request, slug: str, gathering_id: str) -> Response:
    def do(d: Desk, _: Fields) -> Response:
        row = community_gathering(d, gathering_id)
        problem = refusal(lambda: d.node.gatherings.cancel(d.person, UUID(row["id"])))
        if problem is not None:
            return gatherings(request, d, problem)
        return done(request, f"{d.base}/gatherings", "cancelled")

    return await act(request, slug, do)


def typed_gathering(fields: Fields) -> Fields:
    """What was typed, kept to show again (the description as is, the rest trimmed)."""
    typed = {name: fields.get(name, "").strip() for name in GATHERING_FIELDS}
    return typed | {"description": fields.get("description", "")}


def gathering_values(row: Row) -> Fields:
    """A gathering's form, filled in: its times as typed in its own time zone."""
    zone = ZoneInfo(str(row["timezone"]))

    def local(text: str) -> str:
        return from_timestamp(text).astimezone(zone).strftime("%Y-%m-%dT%H:%M")

    capacity = row["capacity"]
    return {
        "title": row["title"],
        "description": row["description"],
        "starts_at": local(row["starts_at"]),
        "ends_at": local(row["ends_at"]),
        "timezone": row["timezone"],
        "location": row["location"] or "",
        "online_url": row["online_url"] or "",
        "capacity": "" if capacity is None else str(capacity),
        "join_mode": row["join_mode"],
        "anonymous_registration": "1" if row["anonymous_registration"] else "",
    }


def read_gathering(typed: Fields) -> tuple[GatheringDetails, int | None]:
    """The form as the domain's value; FormErrors names each field that does not pass, and
    the domain's own checks (end after start, a real time zone...) are the last word."""
    errors: Errors = {}
    zone = time_zone(typed["timezone"], errors)
    starts = local_time(typed["starts_at"], zone, "starts_at", errors)
    ends = local_time(typed["ends_at"], zone, "ends_at", errors)
    capacity = whole_number(typed["capacity"], "capacity", errors)
    if typed["join_mode"] not in {mode.value for mode in JoinMode}:
        errors["join_mode"] = "choose who may join: anyone, or those you approve"
    if errors or starts is None or ends is None:
        raise FormErrors(errors)
    details = GatheringDetails(
        title=typed["title"],
        description=typed["description"],
        starts_at=starts,
        ends_at=ends,
        timezone=typed["timezone"],
        location=typed["location"] or None,
        online_url=typed["online_url"] or None,
        join_mode=JoinMode(typed["join_mode"]),
        anonymous_registration=typed["anonymous_registration"] == "1",
    )
    return details, capacity


def time_zone(name: str, errors: Errors) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        errors["timezone"] = f"unknown time zone {name[:64]!r}: choose one like Europe/Paris"
        return ZoneInfo("UTC")


def local_time(text: str, zone: ZoneInfo, name: str, errors: Errors) -> datetime | None:
    """A ``datetime-local`` value, read in the gathering's time zone."""
    if not text:
        errors[name] = "give a date and a time"
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        errors[name] = f"not a date and time: {text[:40]!r} (like 2025-06-01T18:00)"
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


def whole_number(text: str, name: str, errors: Errors) -> int | None:
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        errors[name] = "a whole number, or empty for no limit"
        return None


# -- registrations and notices -----------------------------------------------------------------


@router.get(BASE + "/gatherings/{gathering_id}/registrations", response_class=HTMLResponse)
def registrations_page(request: Request, slug: str, gathering_id: str) -> Response:
    d = desk(request, slug)
    return registrations(request, d, community_gathering(d, gathering_id))


def registrations(
    request: Request, d: Desk, row: Row, problem: FormErrors | None = None, text: str = ""
) -> Response:
    q = d.node.queries
    return page(
        request,
        d,
        "admin_registrations.html",
        "gatherings",
        problem=problem,
        typed={"text": text},
        gathering=gathering_item(d.node, row),
        participants=q.participants(row["id"]),
        anonymous=q.anonymous_count(row["id"]),
        counts=q.registration_counts(row["id"]),
    )


@router.post(BASE + "/gatherings/{gathering_id}/registrations/{registration_id}/{what}")
async def decide_registration(
    request: Request, slug: str, gathering_id: str, registration_id: str, what: str
) -> Response:
    def do(d: Desk, _: Fields) -> Response:
        row = community_gathering(d, gathering_id)
        commands = {
            "approve": d.node.gatherings.approve_registration,
            "decline": d.node.gatherings.decline_registration,
        }
        if what not in commands:
            raise NotFound("there is nothing at this address")
        registration = uuid_of(registration_id)
        problem = refusal(lambda: commands[what](d.person, UUID(row["id"]), registration))
        if problem is not None:
            return registrations(request, d, row, problem)
        return done(
            request, f"{d.base}/gatherings/{row['id']}/registrations", f"registration-{what}d"
        )

    return await act(request, slug, do)


@router.post(BASE + "/gatherings/{gathering_id}/notices")
async def send_notice(request: Request, slug: str, gathering_id: str) -> Response:
    def do(d: Desk, fields: Fields) -> Response:
        row = community_gathering(d, gathering_id)
        text = fields.get("text", "")
        try:
            d.node.gatherings.send_notice(d.person, UUID(row["id"]), text.strip())
        except (InvalidValue, Conflict) as error:
            problem = FormErrors({"text": error.detail}, _status(error))
            return registrations(request, d, row, problem, text)
        return done(request, f"{d.base}/gatherings/{row['id']}/registrations", "notice")

    return await act(request, slug, do)


# -- agents ------------------------------------------------------------------------------------


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
            # The API's own route: a built-in's kept token is forgotten at once too.
            "remove": (
                lambda: agents_api.remove_agent(the_agent, d.node, d.person),
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
    """A built-in agent, through the API's own path (the node keeps its token and runs it)."""

    def do(d: Desk, _: Fields) -> Response:
        if key not in BUILTINS:
            raise NotFound("there is no such built-in agent")
        body = schemas.NewAgent(builtin=key)
        problem = refusal(lambda: agents_api.create_agent(d.slug, body, d.node, d.person))
        if problem is not None:
            return agents(request, d, problem)
        return done(request, f"{d.base}/agents", "enabled")

    return await act(request, slug, do, admins=True)


# -- the audit trail ---------------------------------------------------------------------------

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


# -- followers from the fediverse --------------------------------------------------------------


@router.get(BASE + "/followers", response_class=HTMLResponse)
def followers_page(request: Request, slug: str) -> Response:
    return followers(request, desk(request, slug, admins=True))


def followers(request: Request, d: Desk, problem: FormErrors | None = None) -> Response:
    q = d.node.queries
    return page(
        request,
        d,
        "admin_followers.html",
        "followers",
        problem=problem,
        pending=q.followers(d.id, "pending"),
        accepted=q.followers(d.id, "accepted"),
    )


@router.post(BASE + "/followers/{what}")
async def decide_follower(request: Request, slug: str, what: str) -> Response:
    def do(d: Desk, fields: Fields) -> Response:
        if what not in ("accept", "reject"):
            raise NotFound("there is nothing at this address")
        actor_url = fields.get("actor_url", "")
        problem = refusal(
            lambda: d.node.federation.decide_follow(
                d.person,
                UUID(d.id),
                actor_url,
                d.node.urls.community(d.slug),
                accept=what == "accept",
            )
        )
        if problem is not None:
            return followers(request, d, problem)
        return done(request, f"{d.base}/followers", f"follow-{what}ed")

    return await act(request, slug, do, admins=True)


# -- the node's blocks (its administrators: KUNVENO_ADMINS) -----------------------------------


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
