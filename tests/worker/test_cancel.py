"""Cancellation: a cancel on ai.control stops the run within one token, wherever it waits."""

import pytest

from tests.worker.harness import Client, assert_seq, running_worker, types, worker_settings

pytestmark = [pytest.mark.broker, pytest.mark.timeout(30)]


async def test_cancel_during_tokens_stops_within_one_token(client: Client, worker):
    device = await client.device()
    run_id = await client.send(device, "/tokens 1000 rate=20")
    before = await device.until("token", run_id)
    await client.cancel(device, run_id)
    events = before + await device.until("run_end", run_id)

    assert_seq(events)
    assert events[-1].data.status == "cancelled"
    assert "response" not in types(events)
    assert types(events).count("token") < 1000


async def test_cancel_during_sleep(client: Client, worker):
    device = await client.device()
    run_id = await client.send(device, "/sleep 60")
    events = await device.until("waiting", run_id)
    await client.cancel(device, run_id)
    events += await device.until("run_end", run_id)

    assert types(events) == ["run_start", "waiting", "run_end"]
    assert_seq(events)
    assert events[-1].data.status == "cancelled"


async def test_cancel_while_waiting_for_a_tool(client: Client, worker, tools):
    device = await client.device()
    run_id = await client.send(device, "/tool slow seconds=10")
    events = await device.until("tool_call", run_id)
    await client.cancel(device, run_id)
    events += await device.until("run_end", run_id)

    assert types(events) == ["run_start", "tool_call", "run_end"]
    assert events[-1].data.status == "cancelled"


async def test_cancel_of_a_queued_run_cancels_it_when_it_starts(client: Client, broker_settings):
    device = await client.device()
    async with running_worker(worker_settings(broker_settings, RUN_PREFETCH=1)):
        blocker = await client.send(device, "/sleep 60")
        await device.until("waiting", blocker)
        queued = await client.send(device, "/tokens 3")
        await client.cancel(device, queued)  # while the request waits in the broker
        await client.cancel(device, blocker)  # same route, so it arrives after the first
        assert (await device.run(blocker))[-1].data.status == "cancelled"
        events = await device.run(queued)

    assert types(events) == ["run_start", "run_end"]
    assert_seq(events)
    assert events[-1].data.status == "cancelled"


async def test_cancel_of_an_unknown_run_changes_nothing(client: Client, worker):
    device = await client.device()
    await client.cancel(device, "no-such-run")
    events = await device.run(await client.send(device, "/tokens 2"))
    assert events[-1].data.status == "completed"


async def test_a_duplicate_delivery_of_a_running_run_is_not_run_twice(
    client: Client, broker_settings, names
):
    device = await client.device()
    async with running_worker(worker_settings(broker_settings)):
        run_id = await client.send(device, "/sleep 2")
        events = await device.until("waiting", run_id)
        await client.send(device, "/sleep 2", run_id=run_id)
        events += await device.run(run_id)
        later = await device.run(await client.send(device, "/tokens 1"))

    assert types(events) == ["run_start", "waiting", "response", "run_end"]
    assert [e.run_id for e in later if e.type == "run_start"] == [later[0].run_id]
    queue = await client.channel.declare_queue(names.run_queue, passive=True)
    assert queue.declaration_result.message_count == 0  # both deliveries were acked
