"""What a failure to store an event means: bad data (never retried), an outage (retried until
the database is back, without counting), or transient (retried a bounded number of times)."""

import asyncio
from enum import Enum

import sqlalchemy.exc


class Failure(Enum):
    BAD_DATA = "bad_data"
    """The event itself cannot be stored (SQLSTATE class 22, 23 except unique violations)."""
    OUTAGE = "outage"
    """The database is unreachable: every event would fail, none is to blame."""
    TRANSIENT = "transient"
    """Serialization failure, deadlock, lock timeout, or anything unexpected."""


_OUTAGE_STATES = ("08", "57P01", "57P02", "57P03", "53300")
_RETRYABLE_CONSTRAINT = "23505"  # a unique violation can be a race; retry it (bounded)


def sqlstate_of(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error, looking through SQLAlchemy's and asyncpg's wrappers."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for attr in ("sqlstate", "pgcode"):
            state = getattr(current, attr, None)
            if isinstance(state, str) and len(state) == 5:
                return state
        current = getattr(current, "orig", None) or current.__cause__
    return None


def classify(exc: BaseException) -> Failure:
    """How to treat `exc`, raised while storing one event."""
    state = sqlstate_of(exc)
    if state is not None:
        if state.startswith("22") or (state.startswith("23") and state != _RETRYABLE_CONSTRAINT):
            return Failure.BAD_DATA
        if state.startswith(_OUTAGE_STATES):
            return Failure.OUTAGE
        return Failure.TRANSIENT
    if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.connection_invalidated:
        return Failure.OUTAGE
    if isinstance(
        exc,
        OSError
        | asyncio.TimeoutError
        | sqlalchemy.exc.InterfaceError
        | sqlalchemy.exc.OperationalError
        | sqlalchemy.exc.TimeoutError,
    ):
        return Failure.OUTAGE
    return Failure.TRANSIENT
