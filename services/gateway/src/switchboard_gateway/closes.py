"""Close codes (switchboard_protocol's `CloseCode`, by their short names here) and the exception
that carries one out of a connection's tasks."""

from switchboard_protocol import CloseCode

BAD_FRAME = CloseCode.BAD_FRAME
UNAUTHENTICATED = CloseCode.UNAUTHENTICATED
FORBIDDEN = CloseCode.FORBIDDEN
NOT_FOUND = CloseCode.NOT_FOUND
SLOW_CONSUMER = CloseCode.SLOW_CONSUMER
REPLACED = CloseCode.REPLACED
SESSION_ENDED = CloseCode.SESSION_ENDED
RATE_LIMITED = CloseCode.RATE_LIMITED
GOING_AWAY = CloseCode.GOING_AWAY
TOO_LARGE = CloseCode.TOO_LARGE
INTERNAL = CloseCode.INTERNAL
TRY_AGAIN = CloseCode.TRY_AGAIN


class Close(Exception):
    """Ends a connection with `code` (None: the peer already went away)."""

    def __init__(self, code: int | None, reason: str = "") -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason
