"""WebSocket close codes: what each means and whether a client should reconnect."""

from enum import IntEnum


class CloseCode(IntEnum):
    """Every code the gateway closes a WebSocket with (docs/protocol.md, "Close codes")."""

    GOING_AWAY = 1001
    TOO_LARGE = 1009
    INTERNAL = 1011
    TRY_AGAIN = 1013
    BAD_FRAME = 4400
    UNAUTHENTICATED = 4401
    FORBIDDEN = 4403
    NOT_FOUND = 4404
    SLOW_CONSUMER = 4408
    REPLACED = 4409
    SESSION_ENDED = 4410
    RATE_LIMITED = 4429


CLOSE_DESCRIPTIONS: dict[CloseCode, str] = {
    CloseCode.GOING_AWAY: "gateway shutting down: reconnect (any replica); nothing is lost",
    CloseCode.TOO_LARGE: "frame too large: send smaller frames",
    CloseCode.INTERNAL: "the gateway lost its broker link (or an internal error): reconnect "
    "with backoff and your cursor",
    CloseCode.TRY_AGAIN: "try again later (the session service did not answer during connect, "
    "or the device's previous connection did not let go): reconnect with backoff",
    CloseCode.BAD_FRAME: "repeated bad frames: fix the client",
    CloseCode.UNAUTHENTICATED: "unauthenticated, or token expired without `refresh`: get a new "
    "token, reconnect",
    CloseCode.FORBIDDEN: "token not allowed here (audience, issuer): stop",
    CloseCode.NOT_FOUND: "no such session, or another user's: stop",
    CloseCode.SLOW_CONSUMER: "outbound buffer full (slow consumer): reconnect with your cursor; "
    "nothing is lost",
    CloseCode.REPLACED: "replaced by a newer connection of this device: stop",
    CloseCode.SESSION_ENDED: "session ended (deleted or expired): stop",
    CloseCode.RATE_LIMITED: "rate limited (frames, connects), or a new device beyond the device "
    "caps: back off, reconnect",
}

FATAL_CLOSES: frozenset[int] = frozenset(
    {
        CloseCode.BAD_FRAME,
        CloseCode.FORBIDDEN,
        CloseCode.NOT_FOUND,
        CloseCode.REPLACED,
        CloseCode.SESSION_ENDED,
        CloseCode.TOO_LARGE,
    }
)
"""Codes a reconnect cannot fix (4401 is fatal only without a way to get a new token)."""
