"""The REST half of the public URL: forwarded to the session service with the caller's headers.

Bodies arrive already limited and read by `BodyGuard` (see app.py): nothing here reads more."""

import logging
from urllib.parse import unquote

import httpx
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from .errors import error_response, upstream_unavailable
from .relay import Relayed
from .restslots import RestSlots, caller_of
from .settings import GatewaySettings
from .upstream import SessionService

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)
"""Described in the OpenAPI document by the session service's own (see openapi.py)."""

_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
_DROP_REQUEST = {
    "host",
    "content-length",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "upgrade",
    "x-forwarded-for",
    "forwarded",
}


async def forward(request: Request) -> httpx.Response | JSONResponse:
    """The session service's answer to this request, or 503 when it does not answer."""
    session_service: SessionService = request.app.state.session_service
    headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROP_REQUEST}
    if request.client:  # the peer, or what a TRUSTED_PROXIES proxy said the client was
        headers["x-forwarded-for"] = request.client.host
    headers.setdefault("accept-encoding", "identity")  # relayed as is: no encoding unasked
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    if _climbs(raw_path.decode("latin-1")):
        return error_response(404, "not_found", "no such resource")
    try:
        return await session_service.forward(
            request.method,
            raw_path.decode("latin-1"),
            str(request.query_params),
            headers,
            await request.body(),
        )
    except httpx.InvalidURL:
        return error_response(404, "not_found", "no such resource")
    except httpx.HTTPError as exc:
        log.warning("session service unreachable: %r", exc)
        return upstream_unavailable()


def _climbs(path: str) -> bool:
    """Whether the path has a `.` or `..` segment (also percent-encoded): httpx resolves them,
    so `/ai/sessions/../../internal/...` would reach a route this proxy does not forward."""
    return any(unquote(part) in (".", "..") for part in path.split("?", 1)[0].split("/"))


@router.api_route("/ai/sessions", methods=_METHODS)
@router.api_route("/ai/sessions/{rest:path}", methods=_METHODS)
@router.api_route("/ai/dev/token", methods=_METHODS)
async def proxied(request: Request) -> Response:
    """Forwarded as is to the session service, its answer streamed back, within the caller's
    REST_REQUESTS_PER_USER slots (429 `too_many_concurrent_requests` beyond)."""
    settings: GatewaySettings = request.app.state.settings
    slots: RestSlots = request.app.state.rest_slots
    caller = caller_of(request, settings)
    if not slots.take(caller):
        return too_many(slots.per_caller)
    try:
        answer = await forward(request)
    except BaseException:
        slots.give(caller)
        raise
    if isinstance(answer, JSONResponse):
        slots.give(caller)
        return answer
    return Relayed(answer, lambda: slots.give(caller), settings.upstream_timeout_s)


def too_many(per_caller: int) -> JSONResponse:
    message = (
        f"at most {per_caller} REST requests of one user at once (REST_REQUESTS_PER_USER); "
        "retry when one of yours has been answered"
    )
    answer = error_response(429, "too_many_concurrent_requests", message)
    answer.headers["Retry-After"] = "1"
    return answer
