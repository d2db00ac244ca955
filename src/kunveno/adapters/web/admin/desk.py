"""Community admin pages: what each page of a community's desk shares.

Who is at the desk, asked as the API asks: outsiders of a members-only community get 404,
members without a moderating role (or, for admins' pages, without an admin's) 403. The page
frame: what was just done, times, any form's errors, never cached. A posted form runs off the
event loop; a refusal the person can act on comes back on the page, the form as typed, the
error under its field (422, or 409 for a conflict).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any
from uuid import UUID

from babel.dates import format_datetime
from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from kunveno.adapters.http import presenters
from kunveno.bootstrap import Container
from kunveno.domain.errors import Conflict, DomainError, InvalidValue, NotFound, PermissionDenied
from kunveno.projections.store import Row, from_timestamp

from ..rendering import container, form, language, redirect, render, require_visitor

BASE = "/communities/{slug}/admin"
ORGANISERS = frozenset({"owner", "admin", "moderator"})
ADMINS = frozenset({"owner", "admin"})

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
    community = presenters.visible_community(node, slug.strip(), person)
    role = node.queries.role(community["id"], str(person))
    if role not in (ADMINS if admins else ORGANISERS):
        raise PermissionDenied(
            "only an admin of the community may do this"
            if admins
            else "this is for the community's moderators and admins"
        )
    return Desk(node, person, community, role)


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
        return FormErrors({"": error.detail}, error_status(error))
    return None


def error_status(error: DomainError) -> int:
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
    return FormErrors({field: error.detail}, error_status(error))
