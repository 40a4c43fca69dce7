"""Worker processes: sharing the load, a SIGKILLed worker's request, late requests, graceful
SIGTERM."""

import asyncio
from collections.abc import Iterator

import pytest
from switchboard_events import BrokerSettings
from switchboard_stack import ServiceProcess

from tests.worker.harness import Client, assert_seq, process_env, types

pytestmark = [pytest.mark.broker, pytest.mark.e2e, pytest.mark.timeout(60)]


@pytest.fixture
def procs() -> Iterator[list[ServiceProcess]]:
    started: list[ServiceProcess] = []
    yield started
    for proc in started:
        proc.kill()


async def start_worker(
    procs: list[ServiceProcess], broker: BrokerSettings, **env: object
) -> ServiceProcess:
    proc = ServiceProcess("switchboard-worker", [], process_env(broker, **env)).start()
    procs.append(proc)
    await proc.wait_output("worker ready")
    return proc


async def test_two_workers_share_runs_and_each_run_stays_one_ordered_stream(
    client: Client, broker_settings, procs
):
    await asyncio.gather(
        start_worker(procs, broker_settings, RUN_PREFETCH=2),
        start_worker(procs, broker_settings, RUN_PREFETCH=2),
    )
    devices = [await client.device() for _ in range(8)]
    run_ids = [await client.send(d, "/tokens 20 rate=100") for d in devices]
    runs = await asyncio.gather(*(d.run(r) for d, r in zip(devices, run_ids, strict=True)))

    workers = set()
    for events in runs:
        assert types(events) == ["run_start", "thinking"] + ["token"] * 20 + ["response", "run_end"]
        assert_seq(events)
        workers.add(events[0].metadata["worker"])
    assert len(workers) == 2


async def test_a_killed_workers_request_is_not_run_again_by_the_next_worker(
    client: Client, broker_settings, procs
):
    """The redelivered request is acked and dropped: the run's lease decides its end (the
    session service fails it `worker_lost`, tests/leases); no second run of it starts."""
    doomed = await start_worker(procs, broker_settings)
    device = await client.device()
    run_id = await client.send(device, "/tokens 1000 rate=20")
    await device.until("token", run_id)
    doomed.kill()
    successor = await start_worker(procs, broker_settings)
    await successor.wait_output(f"run {run_id} was redelivered")
    following = await client.send(device, "/tokens 2")
    events = await device.until("run_end", following)

    lost = [e for e in events if e.run_id == run_id]
    assert "run_end" not in types(lost) and "run_start" not in types(lost)
    assert types([e for e in events if e.run_id == following])[-1] == "run_end"


async def test_a_request_taken_after_its_start_by_is_dropped(
    client: Client, broker_settings, procs
):
    """The session service ends such a run `no_worker`; the worker must not start it too."""
    device = await client.device()
    late = await client.send(device, "/tokens 3", start_by="2020-01-01T00:00:00+00:00")
    on_time = await client.send(device, "/tokens 3", start_by="2999-01-01T00:00:00+00:00")
    worker = await start_worker(procs, broker_settings)
    events = await device.until("run_end", on_time)

    assert f"run {late} came after its start_by" in worker.output()
    assert not [e for e in events if e.run_id == late]
    assert_seq([e for e in events if e.run_id == on_time])


async def test_sigterm_lets_short_runs_finish_and_cancels_long_ones(
    client: Client, broker_settings, procs
):
    proc = await start_worker(procs, broker_settings, SHUTDOWN_GRACE_S=1.5)
    short_device, long_device = await client.device(), await client.device()
    short = await client.send(short_device, "/tokens 4 rate=10")
    long = await client.send(long_device, "/sleep 60")
    short_events = await short_device.until("token", short)
    long_events = await long_device.until("waiting", long)

    code = await asyncio.to_thread(proc.stop, 20)
    short_events += await short_device.run(short)
    long_events += await long_device.run(long)

    assert code == 0, proc.output()
    assert short_events[-1].data.status == "completed"
    assert long_events[-1].data.status == "cancelled"
    assert_seq(short_events)
    assert_seq(long_events)


async def test_tool_worker_process_answers_tool_calls(client: Client, broker_settings, procs):
    tools = ServiceProcess("switchboard-tools", [], process_env(broker_settings)).start()
    procs.append(tools)
    await tools.wait_output("tools ready")
    await start_worker(procs, broker_settings)
    device = await client.device()
    events = await device.run(await client.send(device, "/tool calculate expression=6*7"))

    assert types(events) == ["run_start", "tool_call", "tool_result", "response", "run_end"]
    assert events[2].data.result["value"] == 42
    assert await asyncio.to_thread(tools.stop, 10) == 0
