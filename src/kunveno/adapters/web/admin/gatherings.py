"""A community's gatherings: the lists (to come, and the latest past), scheduling, changing
and cancelling. The form's times are typed in the gathering's own time zone; the domain's
checks (end after start, a real time zone...) have the last word.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from kunveno.bootstrap import Container
from kunveno.domain.errors import Conflict, InvalidValue, NotFound
from kunveno.domain.gathering import GatheringDetails, JoinMode
from kunveno.projections.store import Row, from_timestamp

from .desk import (
    BASE,
    Desk,
    Errors,
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


PAST_SHOWN = 50


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
