"""Runs with leases (docs/internals.md, "Run leases"): a worker whose broker link stalls for
longer than RUN_LEASE_S has its run failed once, `worker_lost`, and publishes nothing more for
it; a shorter stall changes nothing; a run no worker takes ends `no_worker`; a killed worker's
run is failed by the lease, not by the worker that gets its request again.

Shipped lease settings throughout (RUN_LEASE_S 10 s, renewals every 3 s), except where a test
says why it sets one."""

import asyncio
from typing import Any

import pytest
from switchboard_events import BrokerSettings

from tests.leases.conftest import LeaseStack, lease_stack
from tests.proxy import proxy_to
from tests.reliability.device import Device
from tests.reliability.helpers import create_session, send_message, token

pytestmark = [pytest.mark.e2e, pytest.mark.broker, pytest.mark.db, pytest.mark.timeout(150)]

LOST = 1_000_000_001
"""The seq of the `error` the session service publishes for a run it fails (run_end: + 1)."""
SHORT_STALL_S = 4.0
"""A stall well inside the shipped 10 s lease (a renewal every 3 s: at most 7 s would be safe)."""


async def _device(stack: LeaseStack) -> tuple[str, str, Device]:
    tok = token()
    session = await create_session(stack.url, tok)
    device = Device(session["id"], "phone", tok)
    await device.connect(stack.url)
    return tok, session["id"], device


def _failed_by_the_service(events: list[dict[str, Any]], code: str) -> list[dict[str, Any]]:
    """Assert the run's events are 1..n without a hole, then exactly `error` `code` and
    `run_end` failed at LOST, LOST + 1, and nothing after; the events before."""
    tail = events[-2:]
    assert [e["type"] for e in tail] == ["error", "run_end"], tail
    assert tail[0]["data"]["code"] == code and tail[1]["data"]["status"] == "failed", tail
    assert [e["seq"] for e in tail] == [LOST, LOST + 1]
    before = events[:-2]
    assert [e["seq"] for e in before] == list(range(1, len(before) + 1))
    assert not [e for e in before if e["type"] in ("error", "run_end")], before
    return before


async def _next_run_completes(stack: LeaseStack, tok: str, sid: str, device: Device) -> str:
    """The session is free: a new message runs to completion; the worker that ran it."""
    run_id = (await send_message(stack.url, tok, sid, "/tokens 3"))["run_id"]
    await device.pump(lambda d: d.has_type("run_end", run_id), 60)
    events = device.run_events(run_id)
    assert events[-1]["data"]["status"] == "completed", [
        (e["type"], e["seq"], e["data"]) for e in events
    ]
    return str(events[0]["metadata"]["worker"])


async def test_a_link_stalled_longer_than_the_lease_fails_the_run_once(
    database_url: str, broker_settings: BrokerSettings
) -> None:
    async with (
        lease_stack(database_url, broker_settings) as stack,
        proxy_to(broker_settings.amqp_url) as proxy,
    ):
        worker = await stack.start_worker(AMQP_URL=proxy.url_for(broker_settings.amqp_url))
        tok, sid, device = await _device(stack)
        run_id = (await send_message(stack.url, tok, sid, "/tokens 2000 rate=20"))["run_id"]
        await device.pump(lambda d: len(d.run_events(run_id)) >= 5, 30)
        proxy.pause()  # the worker's link stalls: nothing in or out, the TCP connection stays
        await device.pump(lambda d: d.has_type("run_end", run_id), 60)
        await worker.wait_output(f"run {run_id} given up (lease lost)", 10)

        proxy.cut()  # the stalled connection breaks; the worker reconnects through the proxy
        ran_by = await _next_run_completes(stack, tok, sid, device)

        events = device.run_events(run_id)
        before = _failed_by_the_service(events, "worker_lost")
        assert events[0]["metadata"]["worker"] == ran_by, "the next run went to another worker"
        assert len(before) >= 5
        # The same worker published the next run on this session after reconnecting, and a
        # session's events leave a worker in order: nothing of the lost run came after it.
        await device.close()


async def test_a_link_stalled_shorter_than_the_lease_changes_nothing(
    database_url: str, broker_settings: BrokerSettings
) -> None:
    async with (
        lease_stack(database_url, broker_settings) as stack,
        proxy_to(broker_settings.amqp_url) as proxy,
    ):
        await stack.start_worker(AMQP_URL=proxy.url_for(broker_settings.amqp_url))
        tok, sid, device = await _device(stack)
        run_id = (await send_message(stack.url, tok, sid, "/tokens 200 rate=20"))["run_id"]
        await device.pump(lambda d: len(d.run_events(run_id)) >= 5, 30)
        proxy.pause()
        await asyncio.sleep(SHORT_STALL_S)  # the fault's length, not a wait for an event
        proxy.resume()
        await device.pump(lambda d: d.has_type("run_end", run_id), 60)

        events = device.run_events(run_id)
        assert events[-1]["data"]["status"] == "completed", events[-3:]
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        assert not [e for e in events if e["type"] == "error"]
        assert sum(e["type"] == "token" for e in events) == 200
        await device.close()


async def test_a_run_no_worker_takes_ends_no_worker_and_frees_the_session(
    database_url: str, broker_settings: BrokerSettings
) -> None:
    # RUN_START_TIMEOUT_S=2 instead of the shipped 30 s: the no_worker path is the same, only
    # the wait (timeout + RUN_LEASE_S) is shorter.
    async with lease_stack(database_url, broker_settings, RUN_START_TIMEOUT_S="2") as stack:
        tok, sid, device = await _device(stack)
        run_id = (await send_message(stack.url, tok, sid, "/tokens 3"))["run_id"]
        await device.pump(lambda d: d.has_type("run_end", run_id), 60)
        assert _failed_by_the_service(device.run_events(run_id), "no_worker") == []

        late = await stack.start_worker()  # it gets the old request first, and drops it
        await late.wait_output(f"run {run_id} came after its start_by", 30)
        await _next_run_completes(stack, tok, sid, device)
        assert len(device.run_events(run_id)) == 2
        await device.close()


async def test_a_killed_workers_run_is_failed_by_its_lease_not_by_the_next_worker(
    database_url: str, broker_settings: BrokerSettings
) -> None:
    async with lease_stack(database_url, broker_settings) as stack:
        doomed = await stack.start_worker()
        tok, sid, device = await _device(stack)
        run_id = (await send_message(stack.url, tok, sid, "/tokens 2000 rate=20"))["run_id"]
        await device.pump(lambda d: len(d.run_events(run_id)) >= 5, 30)
        doomed.kill()
        successor = await stack.start_worker()
        await successor.wait_output(f"run {run_id} was redelivered", 30)
        await device.pump(lambda d: d.has_type("run_end", run_id), 60)

        _failed_by_the_service(device.run_events(run_id), "worker_lost")
        await _next_run_completes(stack, tok, sid, device)
        await device.close()
