"""Positions (docs/protocol.md, "Positions (v2)"), checked with the client written from the
document alone (wire.py) against the real services with shipped defaults: a device that comes
back with the cursor of the last event it processed gets `recovered: true` and exactly the
events after it (none twice, none missing) while the run goes on; no cursor, or one the server
does not hold, is `recovered: false`; a cursor that does not parse is also an `invalid_cursor`
error frame."""

from collections.abc import AsyncIterator

import pytest

from tests.conformance.wire import Device, Rest
from tests.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.broker, pytest.mark.db, pytest.mark.timeout(60)]


@pytest.fixture
async def rest(real_stack: Stack) -> AsyncIterator[Rest]:
    token = await Rest.dev_token(real_stack.url, "conformance-resume")
    client = Rest(real_stack.url, token)
    try:
        yield client
    finally:
        await client.aclose()


def device(stack: Stack, rest: Rest, session_id: str, client_id: str) -> Device:
    token = rest.http.headers["Authorization"].removeprefix("Bearer ")
    return Device(stack.url.replace("http", "ws", 1), session_id, client_id, token, "client")


async def test_a_device_resumes_by_cursor_mid_run_with_nothing_lost_or_doubled(
    real_stack: Stack, rest: Rest
) -> None:
    session_id = await rest.create_session()
    dev = device(real_stack, rest, session_id, "phone")
    try:
        first = await dev.connect()
        assert first["recovered"] is False  # no cursor sent
        run_id = await rest.send(session_id, "/tokens 300 rate=200")
        await dev.receive_run(run_id, up_to_seq=40)
        await dev.close()
        assert dev.cursor is not None
        hello = await dev.connect()  # the run goes on meanwhile
        assert hello["recovered"] is True and hello["resumed"] is True, hello
        assert not hello.get("active_run"), "a recovered device needs no catch-up"
        run = await dev.receive_run(run_id)
    finally:
        await dev.close()
        await rest.delete_session(session_id)
    seqs = [r.event["seq"] for r in run]
    assert seqs == list(range(1, len(seqs) + 1)), "the run has a hole or a repeat"
    assert dev.duplicates == 0, "an event came again after the cursor"
    tokens = [r.event["data"]["token"] for r in run if r.event["type"] == "token"]
    assert tokens == [f"t{i} " for i in range(1, 301)]


async def test_a_cursor_the_server_does_not_hold_is_not_recovered(
    real_stack: Stack, rest: Rest
) -> None:
    """Well formed, but no such position of this session: `recovered: false`, no error."""
    session_id = await rest.create_session()
    dev = device(real_stack, rest, session_id, "tab")
    dev.cursor = "0.999999999999.0.zzzzzzzz"
    try:
        hello = await dev.connect()
        assert hello["recovered"] is False and hello["resumed"] is False, hello
        run_id = await rest.send(session_id, "/tokens 3")
        run = await dev.receive_run(run_id)  # raises on an error frame
    finally:
        await dev.close()
        await rest.delete_session(session_id)
    assert [r.event["type"] for r in run][-1] == "run_end"


async def test_a_cursor_that_does_not_parse_gets_invalid_cursor(
    real_stack: Stack, rest: Rest
) -> None:
    session_id = await rest.create_session()
    dev = device(real_stack, rest, session_id, "tab")
    dev.cursor = "not a cursor"
    try:
        hello = await dev.connect()
        assert hello["recovered"] is False, hello
        frame = await dev.next_frame()
        assert (frame["type"], frame.get("code")) == ("error", "invalid_cursor"), frame
    finally:
        await dev.close()
        await rest.delete_session(session_id)
