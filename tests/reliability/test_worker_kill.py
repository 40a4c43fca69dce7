"""Fault 5: the run worker, then the tool worker, SIGKILLed mid-run: the run ends (failed or
recovered) and the session takes the next message."""

import time

import pytest
from switchboard_events import BrokerSettings
from switchboard_stack import ServiceProcess

from tests.reliability.conftest import Recorder
from tests.reliability.device import Device
from tests.reliability.helpers import check_run, create_session, send_message, token
from tests.reliability.results import Figures
from tests.stack import Stack, running_stack, stack_installed

pytestmark = [pytest.mark.e2e, pytest.mark.broker, pytest.mark.db, pytest.mark.timeout(150)]

LOST = 1_000_000_001


async def _replace(stack: Stack, name: str, script: str, ready: str) -> None:
    stack.processes[name].kill()
    fresh = ServiceProcess(script, [], stack.env).start()
    stack.processes[f"{name}-2"] = fresh
    await fresh.wait_output(ready)


async def _next_run_completes(stack: Stack, device: Device, tok: str) -> None:
    run_id = (await send_message(stack.url, tok, device.session_id, "/tokens 5"))["run_id"]
    await device.follow(lambda: stack.url, lambda d: d.has_type("run_end", run_id), 30)
    check_run(device.run_events(run_id), 5)


async def test_killed_workers_free_the_session(
    database_url: str, broker_settings: BrokerSettings, figures: Recorder
) -> None:
    if not stack_installed():
        pytest.skip("services not installed")
    async with running_stack(database_url, broker_settings, {"TOOL_TIMEOUT_S": "4"}) as stack:
        tok = token()
        session = await create_session(stack.url, tok)
        device = Device(session["id"], "tablet", tok)
        await device.connect(stack.url)

        run_id = (await send_message(stack.url, tok, session["id"], "/tokens 100000 rate=400"))[
            "run_id"
        ]
        await device.pump(lambda d: len(d.run_events(run_id)) >= 200)
        killed_at = time.monotonic()
        await _replace(stack, "worker", "switchboard-worker", "worker ready")
        await device.follow(lambda: stack.url, lambda d: d.has_type("run_end", run_id), 60)
        worker_recovery = round(time.monotonic() - killed_at, 3)
        run = device.run_events(run_id)
        tail = run[-2:]
        assert [e["type"] for e in tail] == ["error", "run_end"], tail
        assert tail[0]["data"]["code"] == "worker_lost" and tail[1]["data"]["status"] == "failed"
        assert [e["seq"] for e in tail] == [LOST, LOST + 1]
        before = [e["seq"] for e in run[:-2]]
        assert before == list(range(1, len(before) + 1)), "hole before the worker died"
        await _next_run_completes(stack, device, tok)

        tool_run = (await send_message(stack.url, tok, session["id"], "/tool slow seconds=2"))[
            "run_id"
        ]
        await device.follow(lambda: stack.url, lambda d: d.has_type("tool_call", tool_run), 30)
        killed_tools_at = time.monotonic()
        await _replace(stack, "tools", "switchboard-tools", "tools ready")
        await device.follow(lambda: stack.url, lambda d: d.has_type("run_end", tool_run), 30)
        tool_recovery = round(time.monotonic() - killed_tools_at, 3)
        tool_events = device.run_events(tool_run)
        result = next(e for e in tool_events if e["type"] == "tool_result")
        status = tool_events[-1]["data"]["status"]
        outcome = "error" if "error" in result["data"] else "result"
        assert status in ("completed", "failed"), tool_events[-1]
        seqs = [e["seq"] for e in tool_events]
        assert seqs == list(range(1, len(seqs) + 1))
        await _next_run_completes(stack, device, tok)
        await device.close()

    figures(
        "5-worker-kill",
        Figures(
            scenario="Run worker and tool worker SIGKILL mid-run",
            done="/tokens 100000 rate=400: run worker killed after 200 events, a new worker "
            "started; then /tool slow seconds=2: tool worker killed after tool_call, a new one "
            "started; after each, a /tokens 5 run on the same session",
            published=len(run) + len(tool_events),
            delivered=len(run) + len(tool_events),
            lost=0,
            redelivered=device.redelivered,
            recovery_s=max(worker_recovery, tool_recovery),
            notes=f"run: ended failed/worker_lost after {len(before)} events, "
            f"{worker_recovery} s after the kill; tool run: ended {status} "
            f"(tool_result {outcome}) {tool_recovery} s after the kill; "
            "the session took the next message both times",
        ),
    )
