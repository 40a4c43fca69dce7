"""Close codes of docs/protocol.md and the exception that carries one out of a connection's
tasks."""

BAD_FRAME = 4400
UNAUTHENTICATED = 4401
FORBIDDEN = 4403
NOT_FOUND = 4404
SLOW_CONSUMER = 4408
REPLACED = 4409
SESSION_ENDED = 4410
RATE_LIMITED = 4429
GOING_AWAY = 1001
TOO_LARGE = 1009
INTERNAL = 1011
TRY_AGAIN = 1013


class Close(Exception):
    """Ends a connection with `code` (None: the peer already went away)."""

    def __init__(self, code: int | None, reason: str = "") -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason
