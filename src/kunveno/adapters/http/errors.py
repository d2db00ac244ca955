"""Every error answer in one place: ``{"error": code, "detail": sentence}`` and its status."""

from __future__ import annotations

from uuid import UUID

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
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
    async def domain_error(request: Request, error: DomainError) -> JSONResponse:
        status = status_for(error)
        agent_id = getattr(request.state, "agent_id", None)
        if status == 403 and agent_id is not None:
            # What an agent was refused is part of its trail, as what it did is.
            await run_in_threadpool(_record_refusal, request, agent_id, error)
        response = error_response(status, error.code, error.detail)
        if isinstance(error, RateLimited):
            response.headers["Retry-After"] = str(error.retry_after)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        return error_response(*_describe(error))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        return error_response(error.status_code, code, str(error.detail))
