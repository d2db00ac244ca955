"""Rendering pages: a Jinja2 environment per language, the visitor's session and the form
token every page carries, and the helpers templates share (times in a time zone, links)."""

from __future__ import annotations

import functools
import hmac
import secrets
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_datetime, format_time
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from kunveno import __version__
from kunveno.application.errors import Unauthenticated
from kunveno.bootstrap import Container
from kunveno.domain.errors import PermissionDenied
from kunveno.projections.store import Row, from_timestamp

from . import i18n

TEMPLATES = Path(__file__).parent / "templates"
SESSION_COOKIE = "kunveno_session"
CSRF_COOKIE = "kunveno_csrf"
CSRF_FIELD = "csrf_token"
LANGUAGE_COOKIE = "lang"
MAX_FORM_BYTES = 64 * 1024


@functools.cache
def environment(language: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(i18n.translations(language), newstyle=True)  # type: ignore[attr-defined]
    env.globals["version"] = __version__
    return env


def container(request: Request) -> Container:
    node: Container = request.app.state.container
    return node


def language(request: Request) -> str:
    return i18n.negotiate(
        request.query_params.get("lang"),
        request.cookies.get(LANGUAGE_COOKIE),
        request.headers.get("accept-language"),
    )


# -- who is visiting ---------------------------------------------------------------------------


def visitor(request: Request) -> UUID | None:
    """The signed-in person, from the session cookie (a token like the API's), or None.

    Only people sign in to pages; a stale or revoked session is simply signed out.
    """
    cached = getattr(request.state, "visitor", ...)
    if cached is not ...:
        return cached  # type: ignore[no-any-return]
    token = request.cookies.get(SESSION_COOKIE)
    person: UUID | None = None
    if token and not token.startswith("kva_"):
        try:
            person = container(request).accounts.authenticate(token)
        except Unauthenticated:
            person = None
    request.state.visitor = person
    return person


def require_visitor(request: Request) -> UUID:
    person = visitor(request)
    if person is None:
        raise SignInFirst(str(request.url.path))
    return person


class SignInFirst(Exception):
    """A page that needs a signed-in person: answered with a redirect to the sign-in page."""

    def __init__(self, then: str) -> None:
        super().__init__(then)
        self.then = then


# -- forms: the double-submit token ------------------------------------------------------------


def csrf_token(request: Request) -> str:
    """The token this visitor's forms carry (and the cookie holds): a form posted from
    another site cannot know it."""
    token = getattr(request.state, "csrf", None)
    if token is None:
        token = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
        request.state.csrf = token
    return str(token)


async def form(request: Request) -> dict[str, str]:
    """The posted form, after its token is checked; bounded in size."""
    length = int(request.headers.get("content-length") or 0)
    if length > MAX_FORM_BYTES:
        raise PermissionDenied("this form is too large")
    data = await request.form()
    fields = {key: value for key, value in data.items() if isinstance(value, str)}
    cookie = request.cookies.get(CSRF_COOKIE, "")
    given = fields.pop(CSRF_FIELD, "")
    if not cookie or not hmac.compare_digest(cookie, given):
        raise PermissionDenied(
            "this form has expired or came from another site: go back, reload and send it again"
        )
    return fields


# -- answering -----------------------------------------------------------------------------------


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    lang = language(request)
    node = container(request)
    person = visitor(request)
    me = None if person is None else node.queries.person(str(person))
    page = (
        environment(lang)
        .get_template(template)
        .render(
            request=request,
            lang=lang,
            languages=i18n.available(),
            me=me,
            node_name=node.urls.host,
            csrf_field=CSRF_FIELD,
            csrf=csrf_token(request),
            when=functools.partial(when, lang=lang),
            time_of=functools.partial(time_of, lang=lang),
            **context,
        )
    )
    response = HTMLResponse(page, status_code=status, headers={"Vary": "Accept, Cookie"})
    finish(request, response)
    return response


def redirect(request: Request, to: str) -> RedirectResponse:
    """After a form: see the result (303 turns the POST into a GET)."""
    response = RedirectResponse(to, status_code=303)
    finish(request, response)
    return response


def finish(request: Request, response: Any) -> None:
    """Cookies the answer must carry: the form token, the language chosen."""
    secure = container(request).settings.base_url.startswith("https://")
    if request.cookies.get(CSRF_COOKIE) != csrf_token(request):
        response.set_cookie(
            CSRF_COOKIE, csrf_token(request), httponly=True, samesite="lax", secure=secure
        )
    asked = request.query_params.get("lang")
    if asked in i18n.available() and request.cookies.get(LANGUAGE_COOKIE) != asked:
        response.set_cookie(
            LANGUAGE_COOKIE, asked, max_age=365 * 86400, samesite="lax", secure=secure
        )


def sign_in_cookie(request: Request, response: Any, token: str, days: int) -> None:
    secure = container(request).settings.base_url.startswith("https://")
    response.set_cookie(
        SESSION_COOKIE, token, max_age=days * 86400, httponly=True, samesite="lax", secure=secure
    )


def sign_out_cookie(response: Any) -> None:
    response.delete_cookie(SESSION_COOKIE)


# -- times -----------------------------------------------------------------------------


def dated(row: Row, *names: str) -> Row:
    """A read-model row with its stored times as datetimes, as ``when`` takes them."""
    return {**row, **{name: from_timestamp(row[name]) for name in names if row.get(name)}}


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def when(moment: datetime, timezone: str | None = None, *, lang: str = i18n.SOURCE) -> str:
    """A date and time as people read it, in a time zone (the gathering's), named."""
    return format_datetime(moment, "EEEE d MMMM y, HH:mm zzzz", tzinfo=zone(timezone), locale=lang)


def time_of(moment: datetime, timezone: str | None = None, *, lang: str = i18n.SOURCE) -> str:
    return format_time(moment, "HH:mm", tzinfo=zone(timezone), locale=lang)
