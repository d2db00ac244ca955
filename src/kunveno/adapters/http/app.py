"""Builds the web application of a node from its container (no global state)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Response

from kunveno import __version__
from kunveno.adapters.web import pages as web
from kunveno.bootstrap import Container

from . import (
    accounts,
    admin,
    agents,
    audit,
    communities,
    federation,
    gatherings,
    inbox,
    media,
    moving,
    portability,
    posts,
    presenters,
    remote,
    stream,
)
from .calendar import community_calendar
from .deps import Fresh, MaybeMe, Node
from .errors import install_error_handlers
from .limits import AgentLimits


def create_app(container: Container, *, run_projections: bool = True) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if run_projections:
            container.start_background()
        try:
            yield
        finally:
            container.stop_background()

    app = FastAPI(title="Kunveno", version=__version__, lifespan=lifespan)
    app.state.container = container
    app.state.agent_limits = AgentLimits(container.settings.agent_requests_per_minute)
    install_error_handlers(app)
    # Pages first: where a page and an ActivityPub document share a URL, the page's route
    # hands ActivityStreams requests on.
    web.install(app)
    for module in (
        accounts,
        communities,
        gatherings,
        posts,
        federation,
        inbox,
        remote,
        admin,
        media,
        agents,
        audit,
        stream,
    ):
        app.include_router(module.router)
    app.include_router(portability.router)
    app.include_router(moving.router)

    @app.get("/communities/{slug}/calendar.ics", tags=["calendar"], dependencies=[Fresh])
    def calendar(slug: str, node: Node, me: MaybeMe) -> Response:
        community = presenters.visible_community(node, slug, me)
        body = community_calendar(node, community, node.queries.all_gatherings(community["id"]))
        return Response(body, media_type="text/calendar; charset=utf-8")

    return app
