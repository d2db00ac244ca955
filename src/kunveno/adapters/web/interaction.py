"""The follow page other servers send people to: ``/authorize_interaction?uri=...`` is this
node's WebFinger subscribe template. A person of this node, having clicked "follow" on some
other server's page, lands here, sees what they are about to follow (or register for), and
confirms with a button; nothing happens on a mere visit.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from kunveno.adapters.activitypub.fetching import FetchError
from kunveno.adapters.activitypub.vocabulary import InvalidActivity
from kunveno.adapters.http import remote as remote_api
from kunveno.adapters.http import schemas
from kunveno.domain.errors import InvalidValue

from .rendering import container, form, redirect, render, require_visitor

router = APIRouter(include_in_schema=False)
MAX_URI = 2000


@router.get("/authorize_interaction", response_model=None)
def confirm(request: Request, uri: str = "") -> Response:
    require_visitor(request)
    return render(request, "interaction.html", **_what(request, uri))


@router.post("/authorize_interaction", response_model=None)
async def act(request: Request) -> Response:
    fields = await form(request)
    person = require_visitor(request)
    what = _what(request, fields.get("uri", ""))  # what it names, checked again
    uri, node = str(what["url"]), container(request)
    if what["kind"] == "event":
        remote_api.join_remote(schemas.RemoteGatheringRef(url=uri), node, person)
    else:
        remote_api.follow_remote(schemas.RemoteAddress(address=uri), node, person)
    return redirect(request, f"/authorize_interaction?uri={quote(uri, safe='')}&done=1")


def _what(request: Request, uri: str) -> dict[str, Any]:
    """What the address names: an actor to follow, or a gathering to register for."""
    uri = uri.strip()
    if not 8 <= len(uri) <= MAX_URI:
        raise InvalidValue("this link names nothing to follow")
    node = container(request)
    done = request.query_params.get("done") == "1"
    try:
        actor = node.resolver.actor(uri)
        return {
            "uri": uri,
            "kind": "actor",
            "name": actor.name or actor.id,
            "url": actor.id,
            "done": done,
        }
    except (FetchError, InvalidActivity) as error:
        first = error
    try:
        event, _ = node.resolver.event(uri)
        return {
            "uri": uri,
            "kind": "event",
            "name": event.name or event.id,
            "url": event.id,
            "done": done,
        }
    except (FetchError, InvalidActivity):
        raise remote_api.remote_error(first) from None
