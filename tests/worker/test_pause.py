"""RunControl.pause: a timer, woken at once by a cancel; the token loop keeps its schedule."""

import asyncio

import pytest
from switchboard_orchestrator.cancellation import RunCancelled, RunControl

pytestmark = pytest.mark.timeout(10)


async def test_a_pause_ends_when_its_time_is_up() -> None:
    control = RunControl()
    loop = asyncio.get_running_loop()
    started = loop.time()
    await control.pause(0.05)
    assert loop.time() - started >= 0.05
    assert not control._sleepers, "a finished pause leaves nothing behind"


async def test_a_cancel_wakes_every_paused_run_at_once() -> None:
    control = RunControl()
    pauses = [asyncio.create_task(control.pause(60)) for _ in range(3)]
    await asyncio.sleep(0)
    control.cancel("stop")
    for pause in pauses:
        with pytest.raises(RunCancelled, match="stop"):
            await asyncio.wait_for(pause, 2)
    assert not control._sleepers


async def test_a_pause_after_a_cancel_raises_without_waiting() -> None:
    control = RunControl()
    control.cancel()
    with pytest.raises(RunCancelled):
        await asyncio.wait_for(control.pause(60), 1)


async def test_a_zero_pause_returns_at_once() -> None:
    await asyncio.wait_for(RunControl().pause(0), 1)
