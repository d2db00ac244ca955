"""Inboxes: the shared one and each actor's, all the same door (``InboxReceiver``).

The body is read with a cap before anything else (413 past 1 MiB), and the work, which may
fetch the signer's key, runs in a worker thread so the event loop keeps serving.
"""

from __future__ import annotations

from typing import cast
from urllib.parse import urlsplit

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from kunveno.adapters.activitypub.inbox import MAX_BODY, InboxRefused, SignedRequest
from kunveno.bootstrap import Container

from .errors import error_response

router = APIRouter(tags=["federation"])


async def _read_capped(request: Request) -> bytes | None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return None
    return bytes(body)


async def _receive(request: Request) -> Response:
    container = cast(Container, request.app.state.container)
    body = await _read_capped(request)
    if body is None:
        return error_response(413, "too_large", f"an activity has at most {MAX_BODY} bytes")
    signed = SignedRequest(
        method=request.method,
        path=request.url.path,
        query=request.url.query,
        scheme=urlsplit(container.urls.base).scheme,
        headers=request.headers,
        body=body,
    )
    try:
        await run_in_threadpool(container.inbox.receive, signed)
    except InboxRefused as refused:
        return error_response(refused.status, refused.code, refused.detail)
    return JSONResponse({}, status_code=202)


@router.post("/inbox")
async def shared_inbox(request: Request) -> Response:
    return await _receive(request)


@router.post("/actor/inbox")
async def instance_inbox(request: Request) -> Response:
    return await _receive(request)


@router.post("/users/{username}/inbox")
async def person_inbox(request: Request, username: str) -> Response:
    return await _receive(request)


@router.post("/communities/{slug}/inbox")
async def community_inbox(request: Request, slug: str) -> Response:
    return await _receive(request)
