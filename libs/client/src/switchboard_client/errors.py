"""Errors the SDK raises: REST errors by status, and fatal WebSocket close codes."""

from typing import Any

from switchboard_protocol import CloseCode


class SwitchboardError(Exception):
    """Base class of every SDK error."""


class ApiError(SwitchboardError):
    """A REST call answered with an error (`{"error": {"code", "message"}}`)."""

    def __init__(self, status: int, code: str, message: str, body: Any = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.body = body


class Unauthorized(ApiError):
    """401: the token is missing, invalid or expired."""


class NotFound(ApiError):
    """404: no such session (or another user's)."""


class Busy(ApiError):
    """409: a run is active in this session."""


class RateLimited(ApiError):
    """429: slow down; `retry_after` seconds when the server said."""

    retry_after: float | None = None


class GatewayUnreachable(SwitchboardError, ConnectionError):
    """A REST call got no answer from the gateway (refused, reset, timed out, bad address);
    one line naming the gateway; the transport's own error is `transport_error` (not chained,
    so an uncaught one is a short traceback, not httpx's forty lines)."""

    def __init__(self, base_url: str, exc: BaseException) -> None:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        super().__init__(f"cannot reach the gateway at {base_url}: {detail}")
        self.base_url = base_url
        self.transport_error = exc


class StreamClosed(SwitchboardError):
    """The event stream ended for good (a close code that reconnecting cannot fix)."""

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"websocket closed with {code}: {reason or 'no reason'}")
        self.code = code
        self.reason = reason


class AuthFailed(StreamClosed):
    """4401 with no way to get a new token, or 4403 (token not allowed here)."""


class SessionNotFound(StreamClosed):
    """4404: no such session, or another user's."""


class SessionEnded(StreamClosed):
    """4410: the session was deleted or expired."""


class Replaced(StreamClosed):
    """4409: another connection of this device took over; this one stops."""


_BY_STATUS: dict[int, type[ApiError]] = {
    401: Unauthorized,
    404: NotFound,
    409: Busy,
    429: RateLimited,
}
_BY_CLOSE: dict[int, type[StreamClosed]] = {
    CloseCode.UNAUTHENTICATED: AuthFailed,
    CloseCode.FORBIDDEN: AuthFailed,
    CloseCode.NOT_FOUND: SessionNotFound,
    CloseCode.REPLACED: Replaced,
    CloseCode.SESSION_ENDED: SessionEnded,
}


def api_error(status: int, code: str, message: str, body: Any = None) -> ApiError:
    return _BY_STATUS.get(status, ApiError)(status, code, message, body)


def closed_error(code: int, reason: str) -> StreamClosed:
    return _BY_CLOSE.get(code, StreamClosed)(code, reason)
