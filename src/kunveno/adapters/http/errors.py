"""Every error answer in one place: ``{"error": code, "detail": sentence}`` and its status."""

from __future__ import annotations

from uuid import UUID

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from kunveno.adapters.http.limits import RateLimited
from kunveno.application.errors import Unauthenticated
from kunveno.domain.errors import (
    Conflict,
    DomainError,
    InvalidValue,
    NotFound,
    PermissionDenied,
    ScopeMissing,
)


class RemoteUnavailable(DomainError):
    """Another server could not be reached, or answered what we cannot use."""

    code = "remote_unavailable"


class Gone(DomainError):
    """It existed and was deleted (peers drop what answers 410; 404 means never was)."""

    code = "gone"


_STATUS: tuple[tuple[type[DomainError], int], ...] = (
    (RateLimited, 429),
    (Gone, 410),
    (RemoteUnavailable, 502),
    (Unauthenticated, 401),
    (PermissionDenied, 403),
    (NotFound, 404),
    (Conflict, 409),
    (InvalidValue, 422),
)


def error_response(status: int, code: str, detail: str) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=headers)


def status_for(error: DomainError) -> int:
    return next((status for kind, status in _STATUS if isinstance(error, kind)), 400)


def _describe(error: RequestValidationError) -> tuple[int, str, str]:
    problems = error.errors()
    if any(p.get("type") == "json_invalid" for p in problems):
        return 400, "malformed_json", "the request body is not valid JSON"
    parts = []
    for problem in problems[:5]:
        where = ".".join(str(x) for x in problem.get("loc", ()) if x != "body")
        parts.append(f"{where or 'body'}: {problem.get('msg', 'invalid')}")
    return 422, "invalid_request", "; ".join(parts)


def _record_refusal(request: Request, agent_id: UUID, error: DomainError) -> None:
    container = request.app.state.container
    container.agents.refused(
        agent_id,
        method=request.method,
        path=request.url.path,
        scope=error.scope if isinstance(error, ScopeMissing) else None,
        reason=error.detail,
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(request: Request, error: DomainError) -> Response:
        status = status_for(error)
        agent_id = getattr(request.state, "agent_id", None)
        if status == 403 and agent_id is not None:
            # What an agent was refused is part of its trail, as what it did is.
            await run_in_threadpool(_record_refusal, request, agent_id, error)
        page = await _page_for(request, status, error.detail)
        if page is not None:
            return page
        response = error_response(status, error.code, error.detail)
        if isinstance(error, RateLimited):
            response.headers["Retry-After"] = str(error.retry_after)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        return error_response(*_describe(error))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        page = await _page_for(request, error.status_code, _PLAIN.get(error.status_code, ""))
        if page is not None:
            return page
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        return error_response(error.status_code, code, str(error.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> Response:
        """A bug: a person gets a page that says so (never a stack trace); it is logged."""
        page = await _page_for(request, 500, "We are sorry: this failed. Please try again later.")
        if page is not None:
            return page
        return error_response(500, "internal_error", "the server failed to answer this request")


_PLAIN = {
    404: "There is nothing at this address. It may have moved, or never been here.",
    405: "There is nothing at this address. It may have moved, or never been here.",
}


async def _page_for(request: Request, status: int, detail: str) -> Response | None:
    """For a browser on a page (not the API), the error as a page a person understands."""
    from kunveno.adapters.web.pages import error_page, wants_page  # the web layer is optional

    if not wants_page(request):
        return None
    return await run_in_threadpool(error_page, request, status, detail)
