"""Fault 2: the device's TCP connection is aborted (no close frame) again and again mid-run."""

import time

import pytest

from tests.reliability.conftest import Recorder
from tests.reliability.device import Device
from tests.reliability.helpers import check_run, create_session, send_message, token
from tests.reliability.results import Figures
from tests.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.broker, pytest.mark.db, pytest.mark.timeout(150)]

TOKENS = 10_000
DROPS = 5


async def test_aborted_client_connections_lose_nothing(stack: Stack, figures: Recorder) -> None:
    tok = token()
    session = await create_session(stack.url, tok)
    device = Device(session["id"], "laptop", tok)
    await device.connect(stack.url)
    run_id = (await send_message(stack.url, tok, session["id"], f"/tokens {TOKENS} rate=0"))[
        "run_id"
    ]
    recoveries = []
    for n in range(1, DROPS + 1):
        await device.pump(lambda d, n=n: len(d.events) >= n * 1_500)
        device.ws.transport.abort()  # type: ignore[union-attr]
        dropped_at = time.monotonic()
        await device.drop()
        await device.connect(stack.url)
        await device.pump(lambda d, n=n: len(d.first_event_at) > n)
        recoveries.append(device.recovered_after(dropped_at))

    await device.follow(lambda: stack.url, lambda d: d.has_type("run_end", run_id))
    counts = check_run(device.run_events(run_id), TOKENS)
    assert counts["lost"] == 0 and device.redelivered == 0  # resumed after its cursor each time
    assert device.connects == DROPS + 1, device.closes
    assert device.recovered == [True] * DROPS
    figures(
        "2-client-abort",
        Figures(
            scenario="Client TCP aborted repeatedly",
            done=f"/tokens {TOKENS} rate=0; the device's socket aborted (no close frame) "
            f"{DROPS} times, every 1 500 events, reconnecting to the same gateway",
            **counts,
            redelivered=device.redelivered,
            recovery_s=max(recoveries),
            notes=f"recovery = worst of {DROPS} reconnects",
        ),
    )
