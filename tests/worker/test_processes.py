"""Worker processes: sharing the load, a SIGKILLed worker's run, graceful SIGTERM."""

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


async def test_a_killed_workers_run_is_failed_by_the_next_worker(
    client: Client, broker_settings, procs
):
    doomed = await start_worker(procs, broker_settings)
    device = await client.device()
    run_id = await client.send(device, "/tokens 1000 rate=20")
    seen = await device.until("token", run_id)
    doomed.kill()
    await start_worker(procs, broker_settings)
    rest = await device.until("run_end", run_id)

    assert_seq(seen)
    tail = [e for e in rest if e.type in ("error", "run_end")]
    assert types(tail) == ["error", "run_end"]
    assert tail[0].data.code == "worker_lost"
    assert tail[1].data.status == "failed"
    assert [e.seq for e in tail] == [1_000_000_001, 1_000_000_002]
    assert "token" not in types(rest[rest.index(tail[0]) :])


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
