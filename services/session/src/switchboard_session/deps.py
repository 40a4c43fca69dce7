"""FastAPI dependencies: the shared context, a database transaction, the caller's identity."""

import ipaddress
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from switchboard_edge.auth import AuthError, verify_token

from .app_context import AppContext
from .errors import ApiError

_bearer = HTTPBearer(auto_error=False, description="JWT with `sub` and `exp`")


def get_context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


ContextDep = Annotated[AppContext, Depends(get_context)]


def client_ip(request: Request) -> str | None:
    """The peer's address (or a TRUSTED_PROXIES proxy's word for it) when it is an address."""
    host = request.client.host if request.client else None
    try:
        return str(ipaddress.ip_address(host)) if host else None
    except ValueError:
        return None


async def current_user(
    request: Request,
    ctx: ContextDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The token's user id; 401 when missing or invalid, 403 when not meant for us."""
    if credentials is None:
        await _refuse(ctx, request, "unauthenticated", "missing bearer token")
    assert credentials is not None
    try:
        return verify_token(credentials.credentials, ctx.settings).user_id
    except AuthError as exc:
        await _refuse(ctx, request, exc.reason, exc.message)
    raise AssertionError("unreachable")


async def _refuse(ctx: AppContext, request: Request, reason: str, message: str) -> None:
    await ctx.refusals.record(
        ctx.database,
        "auth.failed",
        user_id=None,
        ip=client_ip(request),
        reason=reason,
        message=message,
        path=request.url.path,
        user_agent=request.headers.get("user-agent"),
    )
    if reason == "forbidden":
        raise ApiError(403, "forbidden", message)
    raise ApiError(401, "unauthenticated", message, headers={"WWW-Authenticate": "Bearer"})


UserDep = Annotated[str, Depends(current_user)]
