"""Moving in from another server: ``POST /api/v1/me/import`` takes that server's export zip."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from kunveno.adapters.portability.importer import (
    MAX_ARCHIVE_BYTES,
    ArchiveRefused,
    import_archive,
)
from kunveno.projections.store import from_timestamp

from . import schemas
from .deps import Fresh, Me, Node
from .errors import error_response

router = APIRouter(prefix="/api/v1", tags=["portability"])


@router.post(
    "/me/import",
    response_model=schemas.ImportAnswer,
    responses={
        400: {"description": "not a readable zip, not an export, or an unsafe path in it"},
        403: {"description": "the exported account does not name this one as an alias"},
        413: {"description": "the archive, or a file in it, is too large"},
        422: {"description": "a file of the export is not in the expected shape"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def import_export(
    request: Request, node: Node, me: Me
) -> schemas.ImportAnswer | JSONResponse:
    """Recreate here what an export of another Kunveno node holds (the zip as the body).

    First, on the old server, name this account among its aliases (``PUT /api/v1/me/aliases``);
    afterwards move the old account here (``POST /api/v1/me/move`` there)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_ARCHIVE_BYTES:
            return error_response(
                413, "too_large", f"the archive is over {MAX_ARCHIVE_BYTES} bytes"
            )
    try:
        done = await run_in_threadpool(import_archive, node, me, bytes(body))
    except ArchiveRefused as refused:
        return error_response(refused.status, refused.code, refused.detail)
    return schemas.ImportAnswer(
        imported=schemas.ImportCounts(
            follows=done.follows, registrations=done.registrations, posts=done.posts
        ),
        aliases=done.aliases,
        skipped=done.skipped,
    )


@router.get("/me/imported-posts", dependencies=[Fresh])
def imported_posts(node: Node, me: Me) -> list[schemas.ImportedPost]:
    """The posts I brought along from another server, oldest first, with their dates."""
    return [
        schemas.ImportedPost(
            original_url=row["original_url"],
            content=row["content"],
            published_at=None
            if row["published_at"] is None
            else from_timestamp(row["published_at"]),
            context=row["context"],
            imported_at=from_timestamp(row["imported_at"]),
        )
        for row in node.queries.imported_posts(str(me))
    ]
