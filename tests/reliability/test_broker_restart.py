"""Fault 3: RabbitMQ's app stopped and started mid-run: every service reconnects by itself (the
gateway's stream readers from their last offset + 1) and every event the broker confirmed
reaches the device, which resumes by cursor."""

import asyncio
import time

import httpx
import pytest
from switchboard_events import BrokerSettings

from tests.reliability.confirmed import ConfirmedPublisher
from tests.reliability.conftest import Recorder
from tests.reliability.device import Device
from tests.reliability.helpers import check_run, create_session, send_message, token
from tests.reliability.results import Figures
from tests.reliability.servers import need, rabbitmq_stopped, wait_for_quiet_machine
from tests.stack import Stack, running_stack, stack_installed

pytestmark = [pytest.mark.fault, pytest.mark.e2e, pytest.mark.broker, pytest.mark.timeout(1200)]


async def _healthy(stack: Stack, timeout: float = 90) -> None:
    async with httpx.AsyncClient(timeout=5) as http, asyncio.timeout(timeout):
        for url in (stack.url, stack.session_url):
            while True:
                try:
                    if (await http.get(f"{url}/ai/health")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)


async def test_broker_restart(
    database_url: str, broker_settings: BrokerSettings, figures: Recorder
) -> None:
    need("rabbitmqctl")
    if not stack_installed():
        pytest.skip("services not installed")
    await wait_for_quiet_machine()
    async with running_stack(database_url, broker_settings) as stack:
        tok = token()
        sid = (await create_session(stack.url, tok))["id"]
        device = Device(sid, "watch", tok)
        await device.connect(stack.url)
        run_id = (await send_message(stack.url, tok, sid, "/tokens 3000 rate=300"))["run_id"]
        source = ConfirmedPublisher(broker_settings, sid)
        feeding = asyncio.create_task(source.run())
        await device.pump(lambda d: len(d.run_events(run_id)) >= 100 and len(source.confirmed) > 50)

        async with rabbitmq_stopped():
            stopped_at = time.monotonic()
            confirmed_before = len(source.confirmed)
        started_at = time.monotonic()
        down_s = round(started_at - stopped_at, 3)
        await device.drop()
        await _healthy(stack)
        healthy_s = round(time.monotonic() - started_at, 3)
        async with asyncio.timeout(60):
            while len(source.confirmed) < confirmed_before + 100:
                await asyncio.sleep(0.1)
        source.stop.set()
        await feeding

        wanted = set(source.confirmed)
        try:
            await device.follow(
                lambda: stack.url,
                lambda d: d.has_type("run_end", run_id) and wanted <= d.seen,
                60,
            )
        except TimeoutError:
            pytest.fail(
                f"{len(wanted - device.seen)} of {len(wanted)} confirmed events missing, run_end: "
                f"{device.has_type('run_end', run_id)}, connects {device.connects}, closes "
                f"{device.closes}\n{stack.logs()}"
            )
        missing = wanted - device.seen
        run = device.run_events(run_id)
        status = run[-1]["data"]["status"]
        assert status in ("completed", "failed"), run[-1]
        if status == "completed":
            # every batch is persistent on the stream: every token of the run arrives
            check_run(run, 3000)
            response = [e for e in run if e["type"] == "response"]
            assert response[-1]["data"]["content"] == "".join(f"t{i} " for i in range(1, 3001))
        again = (await send_message(stack.url, tok, sid, "/tokens 5"))["run_id"]
        await device.follow(lambda: stack.url, lambda d: d.has_type("run_end", again), 60)
        check_run(device.run_events(again), 5)
        for name, proc in stack.processes.items():
            assert proc.proc is not None and proc.proc.poll() is None, f"{name} exited"
        await device.close()

    assert not missing
    mine = device.run_events(source.run_id)
    figures(
        "3-rabbitmq-restart",
        Figures(
            scenario="RabbitMQ stopped and started mid-run",
            done=f"/tokens 3000 rate=300 plus a test publisher (confirms) on the same session; "
            f"rabbitmqctl stop_app for {down_s} s, then start_app; no service restarted",
            published=len(source.confirmed),
            delivered=len({e["id"] for e in mine} & wanted),
            lost=len(missing),
            redelivered=device.redelivered,
            recovery_s=healthy_s,
            notes=f"figures are the test publisher's confirmed events ({source.failed} publishes "
            f"failed unconfirmed during the outage); the worker's run ended {status} with "
            f"{len(run)} events; a new run on the session completed; recovery = start_app to "
            "gateway and session service healthy",
        ),
    )
