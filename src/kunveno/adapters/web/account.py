"""The account pages: sign up, sign in and out, my page (registrations, communities, notices,
starting a community), my data (its summary, the export download) and erasing my account.

Each route calls what the client API calls (``AccountService``, ``CommunityService``, the
export and erasure adapters), so the rules live in one place; a field's error is the domain's
own sentence, translated. Form routes are ``async`` only to read the posted form (and check its
token): their work runs in the thread pool.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from kunveno.adapters.erasure import erase_person
from kunveno.adapters.http import portability, presenters
from kunveno.application.accounts import check_password
from kunveno.application.errors import Unauthenticated
from kunveno.application.log import Outcome
from kunveno.bootstrap import Container
from kunveno.domain.actor import Actor
from kunveno.domain.community import Membership, Visibility, check_community_text
from kunveno.domain.errors import InvalidValue, NameTaken, NotFound
from kunveno.domain.gathering import GatheringStatus, RegistrationStatus
from kunveno.domain.names import normalise_slug, normalise_username
from kunveno.domain.person import check_display_name, check_email
from kunveno.projections.store import Row

from . import i18n
from .rendering import (
    SESSION_COOKIE,
    SignInFirst,
    container,
    dated,
    form,
    language,
    redirect,
    render,
    require_visitor,
    sign_in_cookie,
    sign_out_cookie,
    visitor,
)

router = APIRouter(include_in_schema=False)
Errors = dict[str, str]
Gettext = Callable[[str], str]
HOME = "/me"
DONE = frozenset({"cancelled"})


def gettext_for(request: Request) -> Gettext:
    return i18n.translations(language(request)).gettext


def local_path(then: str | None) -> str:
    """Where to go after signing in: a path on this node, or "" (never another site).

    ``//host``, ``/\\host`` and a path with a control character (browsers drop tabs and
    newlines, so ``/\\t/host`` is ``//host`` to them) could all leave the node."""
    if not then or not then.startswith("/") or then.startswith("//") or "\\" in then:
        return ""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in then) or urlsplit(then).netloc:
        return ""
    return then


def private(response: Response) -> Response:
    """A person's own page is never kept by a shared cache (nor the browser's back cache)."""
    response.headers["Cache-Control"] = "private, no-store"
    return response


def signed_in_person(request: Request, then: str) -> UUID:
    """For a form: the visitor, or to the sign-in page and back to ``then`` (a page)."""
    person = visitor(request)
    if person is None:
        raise SignInFirst(then)
    return person


def check(errors: Errors, name: str, gettext: Gettext, rule: Callable[[], object]) -> None:
    """Run one domain rule for one field; its refusal becomes that field's error."""
    try:
        rule()
    except InvalidValue as refused:
        text = gettext(refused.detail)
        errors.setdefault(name, text[:1].upper() + text[1:].rstrip(".") + ".")


# -- signing up, in and out ---------------------------------------------------------------


@router.get("/signup", response_class=HTMLResponse)
def signup_page(request: Request, then: str | None = None) -> Response:
    if visitor(request) is not None:
        return redirect(request, local_path(then) or HOME)
    return render(request, "signup.html", values={}, errors={}, then=local_path(then))


@router.post("/signup", response_class=HTMLResponse)
async def sign_up(request: Request) -> Response:
    fields = await form(request)
    return await run_in_threadpool(_sign_up, request, fields)


def _sign_up(request: Request, fields: dict[str, str]) -> Response:
    node, gettext = container(request), gettext_for(request)
    values = {key: fields.get(key, "").strip() for key in ("username", "display_name", "email")}
    password, then = fields.get("password", ""), local_path(fields.get("then"))
    errors: Errors = {}
    check(errors, "username", gettext, lambda: normalise_username(values["username"]))
    check(errors, "password", gettext, lambda: check_password(password))
    check(errors, "display_name", gettext, lambda: check_display_name(values["display_name"]))
    check(errors, "email", gettext, lambda: check_email(values["email"] or None))
    if not errors:
        try:
            node.accounts.register(
                values["username"],
                password,
                values["display_name"] or None,
                values["email"] or None,
            )
        except NameTaken:
            errors["username"] = gettext("This username is taken: please choose another one.")
    if errors:
        return render(request, "signup.html", 422, values=values, errors=errors, then=then)
    return _signed_in(request, values["username"], password, then or HOME)


def _signed_in(request: Request, username: str, password: str, then: str) -> Response:
    node = container(request)
    token = node.accounts.sign_in(username, password).value
    response = redirect(request, then)
    sign_in_cookie(request, response, token, node.settings.token_ttl_days)
    return response


@router.get("/signin", response_class=HTMLResponse)
def signin_page(request: Request, then: str | None = None) -> Response:
    if visitor(request) is not None:
        return redirect(request, local_path(then) or HOME)
    return render(request, "signin.html", values={}, errors={}, then=local_path(then))


@router.post("/signin", response_class=HTMLResponse)
async def sign_in(request: Request) -> Response:
    fields = await form(request)
    return await run_in_threadpool(_sign_in, request, fields)


def _sign_in(request: Request, fields: dict[str, str]) -> Response:
    username, then = fields.get("username", "").strip(), local_path(fields.get("then"))
    try:
        return _signed_in(request, username, fields.get("password", ""), then or HOME)
    except Unauthenticated:
        gettext = gettext_for(request)
        errors = {"": gettext("Wrong username or password. Please try again.")}
        values = {"username": username}
        return render(request, "signin.html", 401, values=values, errors=errors, then=then)


@router.post("/signout")
async def sign_out(request: Request) -> Response:
    await form(request)
    return await run_in_threadpool(_sign_out, request)


def _sign_out(request: Request) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token and not token.startswith("kva_"):
        with suppress(Unauthenticated):  # expired or revoked already: signed out all the same
            container(request).accounts.sign_out(token)
    response = redirect(request, "/")
    sign_out_cookie(response)
    return response


# -- my page ----------------------------------------------------------------------------------


@router.get("/me", response_class=HTMLResponse)
def my_page(request: Request, done: str | None = None) -> Response:
    person = str(require_visitor(request))
    node = container(request)
    node.fresh_reads()
    now = node.clock.now()
    return private(
        render(
            request,
            "me.html",
            registrations=[
                _registration(row, now) for row in node.queries.registrations_of(person)
            ],
            communities=[
                _community(node, row, person) for row in node.queries.communities_of(person)
            ],
            notices=[_notice(node, row) for row in node.queries.notices_for(person)],
            done=done if done in DONE else None,
        )
    )


def _registration(row: Row, now: datetime) -> dict[str, Any]:
    row = dated(row, "starts_at", "ends_at")
    active = RegistrationStatus(row["status"]).is_active
    open_ = row["gathering_status"] == GatheringStatus.SCHEDULED and row["ends_at"] > now
    return {**row, "cancellable": active and open_, "past": row["ends_at"] <= now}


def _community(node: Container, row: Row, person: str) -> dict[str, Any]:
    role = node.queries.role(row["id"], person)
    return {**row, "role": role, "organiser": role in presenters.ORGANISERS}


def _notice(node: Container, row: Row) -> dict[str, Any]:
    agent = presenters.by_agent(node, row["actor"])
    return {**dated(row, "sent_at"), "agent": agent and agent.name}


@router.post("/me/registrations/{registration_id}/cancel")
async def cancel_registration(request: Request, registration_id: str) -> Response:
    await form(request)
    return await run_in_threadpool(_cancel_registration, request, registration_id)


def _cancel_registration(request: Request, registration_id: str) -> Response:
    person = signed_in_person(request, HOME)
    try:
        registration = UUID(registration_id)
    except ValueError:
        raise NotFound("no such registration") from None
    node = container(request)
    outcome = node.gatherings.cancel_registration(registration, person_id=person, cancel_token=None)
    node.read_your_writes(outcome.position)
    return redirect(request, f"{HOME}?done=cancelled")


# -- starting a community ------------------------------------------------------------------


@router.get("/communities/new", response_class=HTMLResponse)
def new_community_page(request: Request) -> Response:
    require_visitor(request)
    values = {"visibility": Visibility.PUBLIC.value, "membership": Membership.OPEN.value}
    return render(request, "community_new.html", values=values, errors={})


@router.post("/communities/new", response_class=HTMLResponse)
async def found_community(request: Request) -> Response:
    fields = await form(request)
    return await run_in_threadpool(_found_community, request, fields)


def _found_community(request: Request, fields: dict[str, str]) -> Response:
    person = signed_in_person(request, "/communities/new")
    node, gettext = container(request), gettext_for(request)
    keys = ("slug", "name", "summary", "visibility", "membership")
    values = {key: fields.get(key, "").strip() for key in keys}
    errors: Errors = {}
    check(errors, "slug", gettext, lambda: normalise_slug(values["slug"]))
    check(errors, "name", gettext, lambda: check_community_text(values["name"], ""))
    check(errors, "summary", gettext, lambda: check_community_text("-", values["summary"]))
    if values["visibility"] not in set(Visibility):
        errors["visibility"] = gettext("Choose who can see the community.")
    if values["membership"] not in set(Membership):
        errors["membership"] = gettext("Choose how people join.")
    if not errors:
        try:
            node.read_your_writes(_found(node, person, values).position)
        except NameTaken:
            errors["slug"] = gettext("This address is taken: please choose another one.")
    if errors:
        return render(request, "community_new.html", 422, values=values, errors=errors)
    return redirect(request, f"/communities/{quote(normalise_slug(values['slug']))}")


def _found(node: Container, person: UUID, values: dict[str, str]) -> Outcome[UUID]:
    return node.communities.found(
        person,
        slug=values["slug"],
        name=values["name"],
        summary=values["summary"],
        visibility=Visibility(values["visibility"]),
        membership=Membership(values["membership"]),
    )


# -- my data: its summary, the export, erasure ----------------------------------------------


@router.get("/me/data", response_class=HTMLResponse)
def my_data(request: Request) -> Response:
    person = require_visitor(request)
    node = container(request)
    node.fresh_reads()
    summary = portability.data_summary(node, person)
    return private(render(request, "me_data.html", summary=summary))


@router.get("/me/data/export.zip")
def export_download(request: Request) -> Response:
    """The same file as ``GET /api/v1/me/export``: an attachment, and ``Range`` resumes it."""
    return private(portability.export(container(request), require_visitor(request)))


@router.get("/me/erase", response_class=HTMLResponse)
def erase_page(request: Request) -> Response:
    require_visitor(request)
    return private(render(request, "erase.html", errors={}, understood=False))


@router.post("/me/erase", response_class=HTMLResponse)
async def erase(request: Request) -> Response:
    fields = await form(request)
    return await run_in_threadpool(_erase, request, fields)


def _erase(request: Request, fields: dict[str, str]) -> Response:
    person = signed_in_person(request, "/me/erase")
    node, gettext = container(request), gettext_for(request)
    errors: Errors = {}
    understood = fields.get("understand") == "1"
    if not understood:
        errors["understand"] = gettext("Tick this box to confirm that you understand.")
    if not _password_matches(node, person, fields.get("password", "")):
        errors["password"] = gettext("This is not your password.")
    if errors:
        return private(render(request, "erase.html", 422, errors=errors, understood=understood))
    erase_person(node, person, Actor.person(person))  # as DELETE /api/v1/me does
    request.state.visitor = None  # this very page is already for someone signed out
    response = render(request, "goodbye.html")
    sign_out_cookie(response)
    return private(response)


def _password_matches(node: Container, person: UUID, password: str) -> bool:
    try:
        node.accounts.verify_password(person, password)
    except Unauthenticated:
        return False
    return True
