"""One error shape for the whole API.

Every failure, domain errors, validation errors and unknown routes alike, is rendered as
``{"error": {"code": ..., "message": ..., "details": ..., "request_id": ...}}``. Expected business
failures are 4xx subclasses of ``AppError``; anything else is a logged 500 that leaks nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import HTTPConnection
from starlette.routing import Match

logger = logging.getLogger(__name__)


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any | None = None
    request_id: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class AppError(Exception):
    """Base of every expected failure; subclasses fix the HTTP status and machine code."""

    status_code: int = 400
    code: str = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        details: Any | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers


class BadRequest(AppError):
    status_code = 400
    code = "bad_request"


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"

    def __init__(self, message: str = "not authenticated", **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(message, **kwargs)


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class Unprocessable(AppError):
    status_code = 422
    code = "invalid"


class TooManyRequests(AppError):
    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"Retry-After": str(max(1, retry_after))})
        super().__init__(message, details={"retry_after": max(1, retry_after)}, **kwargs)


class ServiceUnavailable(AppError):
    status_code = 503
    code = "unavailable"


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
}

_ROUTABLE_METHODS = ("DELETE", "GET", "PATCH", "POST", "PUT")

# Declared on every router so the OpenAPI shows the shape clients must handle.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in {
        401: "Not authenticated",
        404: "Not found (or not yours)",
        422: "Invalid input",
    }.items()
}
ERROR_RESPONSES[429] = {
    "model": ErrorResponse,
    "description": "Rate limited: the caller's API budget (RateLimit-* headers) or this "
    "operation's own limit",
    "headers": {
        "Retry-After": {
            "description": "seconds to wait before retrying",
            "schema": {"type": "integer", "minimum": 1},
        }
    },
}


# A client needs the first few errors to fix its request; thousands only make a huge answer.
MAX_VALIDATION_ERRORS = 20


def error_json(
    request: HTTPConnection,
    status_code: int,
    code: str,
    message: str,
    details: Any | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    request_id = getattr(request.state, "request_id", None)
    body = ErrorResponse(
        error=ErrorBody(code=code, message=message, details=details, request_id=request_id)
    )
    return JSONResponse(
        body.model_dump(mode="json"),
        status_code=status_code,
        headers=dict(headers) if headers else None,
    )


def _clean_validation_errors(errors: Any) -> list[dict[str, Any]]:
    # The raw "input" and "ctx" may echo a password or secret back; keep location, message, type.
    return [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in errors
    ]


async def _app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return error_json(request, exc.status_code, exc.code, exc.message, exc.details, exc.headers)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    if exc.status_code == 404 and message == "Not Found":
        message = f"no route {request.method} {request.url.path}"
    headers = exc.headers
    if exc.status_code == 405:
        message = f"method {request.method} is not allowed on {request.url.path}"
        headers = {**(exc.headers or {}), "Allow": ", ".join(_allowed_methods(request))}
    return error_json(request, exc.status_code, code, message, None, headers)


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path: Starlette names only the first route's."""
    routes = request.app.router.routes
    return [
        method
        for method in _ROUTABLE_METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first_errors = _clean_validation_errors(errors[:MAX_VALIDATION_ERRORS])
    return validation_error_json(request, first_errors, total=len(errors))


def validation_error_json(
    request: Request, details: list[dict[str, Any]], *, total: int | None = None
) -> JSONResponse:
    """A 422 listing the first errors; the message names the first and counts the others."""
    first = details[0] if details else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(part) for part in first["loc"] if part != "body")
    message = f"{where}: {first['msg']}" if where else str(first["msg"])
    total = len(details) if total is None else total
    listed = details[:MAX_VALIDATION_ERRORS]
    if total > len(listed):
        message += f" (and {total - 1} more errors; details lists the first {len(listed)})"
    return error_json(request, 422, "validation_error", message, listed)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error", exc_info=exc)
    return error_json(request, 500, "internal_error", "internal server error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)
