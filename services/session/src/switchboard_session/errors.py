"""Every error answer is `{"error": {"code", "message"}}`; FastAPI's defaults are overridden."""

import logging
from typing import Any

import asyncpg
import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from switchboard_protocol import ErrorBody, ErrorEnvelope

log = logging.getLogger(__name__)

_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "unavailable",
}


ErrorResponse = ErrorEnvelope
"""The shape of every error answer (the OpenAPI model of the error responses)."""


class ApiError(Exception):
    """An error answer: HTTP status, stable code, human message, optional headers."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def error_json(
    status: int, code: str, message: str, fields: list[dict[str, Any]] | None = None
) -> JSONResponse:
    """The error envelope (switchboard_protocol's `ErrorEnvelope`); `fields` with 422."""
    body = ErrorEnvelope(error=ErrorBody(code=code, message=message, fields=fields))
    return JSONResponse(body.model_dump(mode="json"), status_code=status)


def not_found(what: str = "session") -> ApiError:
    return ApiError(404, f"{what}_not_found", f"no such {what}")


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or ".".join(str(p) for p in loc)


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    response = error_json(exc.status, exc.code, exc.message)
    response.headers.update(exc.headers or {})
    return response


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields = [{"field": _field(tuple(e["loc"])), "message": e["msg"]} for e in exc.errors()]
    message = "; ".join(f"{f['field']}: {f['message']}" for f in fields) or "invalid request"
    return error_json(422, "validation_error", message, fields=fields)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _CODES.get(exc.status_code, "error")
    response = error_json(exc.status_code, code, str(exc.detail))
    response.headers.update(exc.headers or {})
    return response


def _is_connection_error(exc: BaseException) -> bool:
    """A database (or network) outage rather than a bug: worth a 503 and a retry."""
    if isinstance(exc, OSError | TimeoutError | sqlalchemy.exc.TimeoutError):
        return True
    if isinstance(exc, sqlalchemy.exc.DBAPIError):
        return exc.connection_invalidated or isinstance(
            exc.orig, OSError | asyncpg.PostgresConnectionError | asyncpg.CannotConnectNowError
        )
    return isinstance(exc, asyncpg.PostgresConnectionError | asyncpg.CannotConnectNowError)


async def unexpected(request: Request, exc: Exception) -> JSONResponse:
    """Outages answer 503 `database_unavailable`; anything else 500, never a stack trace.
    Called by the app's outermost middleware (app.py), not as Starlette's catch-all handler:
    that one re-raises after answering, and uvicorn then closes the keep-alive connection the
    gateway shares among users."""
    error = unexpected_error(exc, f"{request.method} {request.url.path}")
    return error_json(error.status, error.code, error.message)


def unexpected_error(exc: Exception, where: str) -> ApiError:
    """The answer to an exception no handler expected (logged here): 503 for an outage."""
    if _is_connection_error(exc) or _is_connection_error(exc.__cause__ or exc):
        log.warning("database unavailable: %r", exc)
        return ApiError(503, "database_unavailable", "the database is unavailable; retry")
    log.error("unexpected error on %s", where, exc_info=exc)
    return ApiError(500, "internal_error", "unexpected error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
