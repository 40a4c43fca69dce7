"""Fault 7: 500 devices connect within seconds; the gateway restarts and all of them reconnect
at once with its cursor, and each gets what was published while it was away (replayed from its
session's shard stream by the new gateway)."""

import asyncio
import time

import pytest
from switchboard_events import BrokerSettings
from switchboard_stack import ServiceProcess

from tests.reliability.confirmed import publish_one
from tests.reliability.conftest import Recorder
from tests.reliability.device import Device
from tests.reliability.helpers import create_session, token
from tests.reliability.results import Figures
from tests.stack import Stack, running_stack, stack_installed

pytestmark = [pytest.mark.fault, pytest.mark.e2e, pytest.mark.broker, pytest.mark.timeout(300)]

SESSIONS, PER_SESSION = 50, 10
"""500 devices of 50 users, each within the shipped device caps (16 per session, 64 per user)."""


async def _connect_all(stack: Stack, devices: list[Device]) -> None:
    gate = asyncio.Semaphore(100)

    async def one(device: Device) -> None:
        async with gate:
            await device.connect(stack.url)

    await asyncio.gather(*(one(d) for d in devices))


async def _publish_all(broker: BrokerSettings, sessions: list[str], text: str) -> set[str]:
    return set(await asyncio.gather(*(publish_one(broker, sid, text) for sid in sessions)))


async def test_500_devices_connect_and_reconnect_at_once(
    database_url: str, broker_settings: BrokerSettings, figures: Recorder
) -> None:
    if not stack_installed():
        pytest.skip("services not installed")
    # HEARTBEAT_S 60 instead of 25: this one test process answers the pings of 500 sockets on a
    # loaded machine; the scenario checks reconnects after a restart, not heartbeat liveness.
    async with running_stack(database_url, broker_settings, {"HEARTBEAT_S": "60"}) as stack:
        toks = [token(f"user{n}") for n in range(SESSIONS)]
        sessions = [(await create_session(stack.url, tok, client_id="d0"))["id"] for tok in toks]
        devices = [
            Device(sid, f"d{i}", tok)
            for sid, tok in zip(sessions, toks, strict=True)
            for i in range(PER_SESSION)
        ]
        started = time.monotonic()
        await _connect_all(stack, devices)
        connect_s = round(time.monotonic() - started, 3)
        first = await _publish_all(broker_settings, sessions, "before")
        await asyncio.gather(*(d.pump(lambda d: bool(first & d.seen), 60) for d in devices))

        second: set[str] = set()
        followers = [
            asyncio.create_task(d.follow(lambda: stack.url, lambda d: bool(second & d.seen), 180))
            for d in devices
        ]
        old = stack.processes["gateway"]
        old.stop(20)
        second.update(await _publish_all(broker_settings, sessions, "while away"))
        fresh = ServiceProcess(old.script, old.args, stack.env).start()
        stack.processes["gateway"] = fresh
        await fresh.wait_http(f"{stack.url}/ai/health", 60)
        back_at = time.monotonic()
        await asyncio.gather(*followers)
        reconnect_s = round(time.monotonic() - back_at, 3)
        await asyncio.gather(*(d.close() for d in devices))

    wanted = first | second
    delivered = sum(len(wanted & d.seen) for d in devices)
    expected = 2 * len(devices)
    assert delivered == expected
    assert all(d.connects >= 2 for d in devices)
    assert all(d.recovered and all(d.recovered) for d in devices)  # each resumed by its cursor
    assert all(d.closes and d.closes[0] == 1001 for d in devices), {d.closes[0] for d in devices}
    figures(
        "7-many-devices",
        Figures(
            scenario="500 devices, gateway restart",
            done=f"{len(devices)} devices ({SESSIONS} sessions x {PER_SESSION}) connect at once; "
            "one event per session; gateway restarted (SIGTERM, 1001), one more event per "
            "session published while it was down; all devices reconnect at once",
            published=expected,
            delivered=delivered,
            lost=expected - delivered,
            redelivered=sum(d.redelivered for d in devices),
            recovery_s=reconnect_s,
            notes=f"all {len(devices)} connected in {connect_s} s; after the restart, all had "
            f"the missed event {reconnect_s} s after the new gateway was healthy",
        ),
    )
