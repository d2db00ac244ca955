"""The home page, and what every page shares: the error pages and the sign-in redirect.

A page that has an ActivityPub twin at the same URL (a community, a gathering, a person) is
routed here first and hands a request that asks for ActivityStreams JSON to the federation
handler, so one URL serves people and peers.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from . import account, admin, interaction, public, rendering
from .headers import PageHeaders
from .rendering import SignInFirst, container, render

router = APIRouter(include_in_schema=False)
STATIC = rendering.TEMPLATES.parent / "static"


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    node = container(request)
    node.fresh_reads()
    return render(
        request,
        "home.html",
        communities=node.queries.directory(None),
        gatherings=[
            rendering.dated(row, "starts_at", "ends_at")
            for row in node.queries.upcoming_public(node.clock.now(), limit=20)
        ],
    )


# -- errors as pages ---------------------------------------------------------------------------

HEADINGS = {
    400: "This request could not be understood",
    401: "Please sign in",
    403: "You may not do this",
    404: "This page does not exist",
    405: "This page does not exist",
    409: "This could not be done now",
    410: "This is gone",
    422: "Something in the form needs fixing",
    429: "Too many requests",
    500: "Something went wrong on our side",
    502: "Another server did not answer",
}


def wants_page(request: Request) -> bool:
    """A browser asking for a page (not the API, not a peer asking for JSON)."""
    path = request.url.path
    if path.startswith(("/api/", "/.well-known/", "/nodeinfo/", "/static/", "/media/")):
        return False
    accept = request.headers.get("accept", "")
    return "text/html" in accept or (request.method == "POST" and "json" not in accept)


def error_page(request: Request, status: int, detail: str) -> HTMLResponse:
    from . import i18n

    gettext = i18n.translations(rendering.language(request)).gettext
    heading = gettext(HEADINGS.get(status, HEADINGS[500]))
    referer = request.headers.get("referer", "")
    base = container(request).settings.base_url
    back = referer if referer.startswith(base) else None
    return render(request, "error.html", status=status, heading=heading, message=detail, back=back)


def install(app: FastAPI) -> None:
    """Pages, their static files and headers, on the node's application."""
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(router)
    # Fixed paths (/communities/new) before the patterns that would take them.
    for module in (account, admin, interaction, public):
        app.include_router(module.router)
    app.add_middleware(PageHeaders)

    @app.exception_handler(SignInFirst)
    async def sign_in_first(request: Request, error: SignInFirst) -> Response:
        return RedirectResponse(f"/signin?then={quote(error.then)}", status_code=303)
