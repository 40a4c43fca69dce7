"""switchboard_events.retry: the one retry helper (tenacity underneath)."""

import asyncio
import logging

import pytest
from switchboard_events.retry import reconnecting, retry_for

pytestmark = pytest.mark.timeout(10)


class Busy(Exception):
    pass


def failing(times: int, exc: BaseException, result: str = "done"):  # type: ignore[no-untyped-def]
    calls: list[int] = []

    async def attempt() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise exc
        return result

    return attempt, calls


async def test_a_listed_failure_is_retried_until_the_step_succeeds() -> None:
    attempt, calls = failing(3, Busy("not yet"))
    assert await retry_for(5, Busy, 0.001)(attempt) == "done"
    assert len(calls) == 4


async def test_after_the_grace_the_last_failure_is_raised_as_it_was() -> None:
    attempt, calls = failing(10_000, Busy("still busy"))
    with pytest.raises(Busy, match="still busy"):
        await retry_for(0.05, Busy, 0.01)(attempt)
    assert len(calls) >= 2


async def test_other_failures_and_a_false_predicate_are_not_retried() -> None:
    attempt, calls = failing(1, ValueError("bad"))
    with pytest.raises(ValueError):
        await retry_for(5, Busy, 0.001)(attempt)
    attempt, calls2 = failing(1, Busy("no"))
    with pytest.raises(Busy):
        await retry_for(5, lambda exc: "yes" in str(exc), 0.001)(attempt)
    assert len(calls) == len(calls2) == 1


async def test_reconnecting_retries_any_failure_and_stops_on_cancel(
    caplog: pytest.LogCaptureFixture,
) -> None:
    connected = asyncio.Event()
    attempts: list[int] = []

    async def serve() -> None:
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionError("down")
        connected.set()
        await asyncio.Future()  # holds the connection until cancelled

    log = logging.getLogger("test.retry")
    with caplog.at_level(logging.WARNING, logger="test.retry"):
        task = asyncio.create_task(reconnecting(0.001, log, "thing")(serve))
        await asyncio.wait_for(connected.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(attempts) == 3
    assert "thing unavailable (ConnectionError('down'))" in caplog.text
