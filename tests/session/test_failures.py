"""How a failure to store an event is classified (no database needed)."""

import sqlalchemy.exc
from switchboard_session.failures import Failure, classify, sqlstate_of


class PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def wrapped(sqlstate: str) -> sqlalchemy.exc.DBAPIError:
    """As SQLAlchemy's asyncpg dialect raises it: a plain DBAPIError around the driver's."""
    return sqlalchemy.exc.DBAPIError("INSERT ...", {}, PgError(sqlstate))


def test_bad_data_is_never_retried() -> None:
    for state in ("22P05", "22021", "22001", "23502", "23503", "23514"):
        assert classify(wrapped(state)) is Failure.BAD_DATA, state
    assert sqlstate_of(wrapped("22P05")) == "22P05"


def test_races_and_deadlocks_are_retried_bounded() -> None:
    for state in ("40001", "40P01", "55P03", "23505"):
        assert classify(wrapped(state)) is Failure.TRANSIENT, state
    assert classify(KeyError("x")) is Failure.TRANSIENT


def test_outages_are_waited_out() -> None:
    for state in ("08006", "57P01", "57P03", "53300"):
        assert classify(wrapped(state)) is Failure.OUTAGE, state
    assert classify(ConnectionRefusedError()) is Failure.OUTAGE
    assert classify(TimeoutError()) is Failure.OUTAGE
