"""The delivery promise, checked with a client written from docs/protocol.md alone (wire.py),
against the real services with shipped defaults: every token reaches every device once, in
order, with `ack=client` acking exactly every half window and never on idle (a window that
cannot fill before the prefetch does stalls the run for good: the test's timeout catches it),
and with `ack=auto`. How live the stream was (the worst lag beyond the producer's own pacing) is
recorded as a test property, not asserted: speed is the bench's job."""

import asyncio
import itertools
from collections.abc import Callable

import pytest

from tests.conformance.wire import Device, LoopStalls, Received, Rest
from tests.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.broker, pytest.mark.db, pytest.mark.timeout(60)]

TOKENS_AT = {10: 12, 50: 60, 200: 400}
"""tokens/s → tokens per run: 1 to 2 s each; at 200/s the run outgrows the ack window (256)."""


def check_run(run: list[Received], count: int) -> None:
    events = [r.event for r in run]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1)), "seq has holes"
    assert events[0]["type"] == "run_start"
    assert (events[-1]["type"], events[-1]["data"]) == ("run_end", {"status": "completed"})
    tokens = [e["data"]["token"] for e in events if e["type"] == "token"]
    assert tokens == [f"t{i} " for i in range(1, count + 1)]


def worst_stall(run: list[Received], own: LoopStalls) -> tuple[float, int]:
    """The largest (arrival gap minus production gap) between consecutive events, and where.

    Arrival gaps are compared with the gaps of the events' own `timestamp`s, so a producer that
    is slow (a busy machine, the stub's own pacing) does not count, nor does time this test's
    own event loop could not run; only time lost between the producer and this client does."""
    stalls = [
        ((b.at - a.at) - (b.produced - a.produced) - own.within(a.at, b.at), i)
        for i, (a, b) in enumerate(itertools.pairwise(run))
    ]
    return max(stalls, default=(0.0, 0))


@pytest.mark.parametrize("ack", ["client", "auto"])
@pytest.mark.parametrize("devices", [1, 3])
@pytest.mark.parametrize("rate", sorted(TOKENS_AT))
async def test_every_token_once_in_order_without_stalls(
    real_stack: Stack, rate: int, devices: int, ack: str, record_property: Callable[..., None]
) -> None:
    count = TOKENS_AT[rate]
    token = await Rest.dev_token(real_stack.url, "conformance")
    rest = Rest(real_stack.url, token)
    ws_base = real_stack.url.replace("http", "ws", 1)
    session_id = await rest.create_session()
    devs = [Device(ws_base, session_id, f"dev-{i}", token, ack) for i in range(devices)]
    own = LoopStalls()
    watcher = asyncio.create_task(own.watch())
    try:
        # every device is connected (its hello came) before the message is published
        hellos = await asyncio.gather(*(d.connect() for d in devs))
        run_id = await rest.send(session_id, f"/tokens {count} rate={rate}")
        async with asyncio.timeout(count / rate + 20):
            runs = await asyncio.gather(*(d.receive_run(run_id) for d in devs))
    finally:
        watcher.cancel()
        await asyncio.gather(*(d.close() for d in devs), return_exceptions=True)
        await rest.delete_session(session_id)  # ends it: frees its devices (per-user caps)
        await rest.aclose()
    for dev, hello, run in zip(devs, hellos, runs, strict=True):
        check_run(run, count)
        assert dev.duplicates == 0, "an event came twice on one connection"
        stall, at = worst_stall(run, own)
        record_property(f"{dev.client_id}_worst_lag_s", f"{stall:.3f} after seq {at + 1}")
        if ack == "client":
            half = int(hello["ack_window"]) // 2
            assert len(dev.acks_sent) == len(dev.events) // half
