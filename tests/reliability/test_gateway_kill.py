"""Fault 1: a 10 000-token run, its gateway SIGKILLed mid-stream, the device resumes on another
by cursor: the new gateway replays from its stream reader's ring or the stream."""

import time

import pytest

from tests.reliability.conftest import Recorder
from tests.reliability.device import Device
from tests.reliability.helpers import check_run, create_session, send_message, start_gateway, token
from tests.reliability.results import Figures
from tests.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.broker, pytest.mark.db, pytest.mark.timeout(150)]

TOKENS = 10_000


async def test_gateway_sigkill_mid_stream_loses_nothing(stack: Stack, figures: Recorder) -> None:
    _, second = await start_gateway(stack)
    tok = token()
    session = await create_session(stack.url, tok)
    device = Device(session["id"], "phone", tok)
    await device.connect(stack.url)
    run_id = (await send_message(stack.url, tok, session["id"], f"/tokens {TOKENS} rate=0"))[
        "run_id"
    ]
    await device.pump(lambda d: len(d.events) >= 2_000)
    stack.processes["gateway"].kill()
    killed_at = time.monotonic()
    before = len(device.events)

    drops = await device.follow(lambda: second, lambda d: d.has_type("run_end", run_id))
    run = device.run_events(run_id)
    counts = check_run(run, TOKENS)
    # one reconnect: the resume on gateway B is never cut (a 4408 or a reset there is a bug)
    assert drops >= 1 and device.connects == 2, f"closes {device.closes}"
    assert device.recovered == [True]  # resumed by cursor on gateway B
    assert counts["lost"] == 0 and device.redelivered == 0  # nothing lost, nothing sent twice
    figures(
        "1-gateway-sigkill",
        Figures(
            scenario="Gateway SIGKILL mid-stream",
            done=f"/tokens {TOKENS} rate=0; gateway A killed (SIGKILL) after {before} events; "
            "the device reconnects to gateway B with its cursor",
            **counts,
            redelivered=device.redelivered,
            recovery_s=device.recovered_after(killed_at),
        ),
    )
