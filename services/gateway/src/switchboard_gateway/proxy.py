"""The REST half of the public URL: forwarded to the session service with the caller's headers.

Bodies arrive already limited and read by `BodyGuard` (see app.py): nothing here reads more."""

import logging
from urllib.parse import unquote

import httpx
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from .errors import error_response, upstream_unavailable
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
_KEEP_RESPONSE = {"content-type", "retry-after", "location", "cache-control", "www-authenticate"}


async def forward(request: Request) -> httpx.Response | JSONResponse:
    """The session service's answer to this request, or 503 when it does not answer."""
    session_service: SessionService = request.app.state.session_service
    headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROP_REQUEST}
    if request.client:  # the peer, or what a TRUSTED_PROXIES proxy said the client was
        headers["x-forwarded-for"] = request.client.host
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


def relay(answer: httpx.Response) -> Response:
    headers = {k: v for k, v in answer.headers.items() if k.lower() in _KEEP_RESPONSE}
    return Response(answer.content, status_code=answer.status_code, headers=headers)


@router.api_route("/ai/sessions", methods=_METHODS)
@router.api_route("/ai/sessions/{rest:path}", methods=_METHODS)
@router.api_route("/ai/dev/token", methods=_METHODS)
@router.api_route("/ai/stats", methods=["GET"])
async def proxied(request: Request) -> Response:
    """Forwarded as is to the session service."""
    answer = await forward(request)
    return answer if isinstance(answer, JSONResponse) else relay(answer)
