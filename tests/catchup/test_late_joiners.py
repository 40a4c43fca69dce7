"""A device that joins mid-run gets the run so far in its hello (`active_run`), then the live
tail: together exactly the text a device that was there from the start saw."""

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from switchboard_stack import ServiceProcess, free_port

from tests.catchup.device import Device, dev_token
from tests.conftest import wait_until
from tests.stack import Stack, isolated_stack

pytestmark = [pytest.mark.broker, pytest.mark.db, pytest.mark.e2e]

TOKENS = 2000
RATE = 100


@pytest.fixture(scope="module")
async def stack(postgres_admin_url: str, amqp_url: str) -> AsyncIterator[Stack]:
    """One stack for the module (each test uses its own user and sessions)."""
    async with isolated_stack(postgres_admin_url, amqp_url, "late") as running:
        yield running


async def second_gateway(stack: Stack) -> tuple[ServiceProcess, str]:
    port = free_port()
    args = ["--host", "127.0.0.1", "--port", str(port)]
    proc = ServiceProcess("switchboard-gateway", args, stack.env).start()
    url = f"http://127.0.0.1:{port}"
    await proc.wait_http(f"{url}/ai/health", 60)
    return proc, url


async def start_run(stack: Stack, token: str) -> tuple[str, Device]:
    """A session whose first device is connected, then a long run; (run id, first device)."""
    async with httpx.AsyncClient(base_url=stack.url, headers=_bearer(token)) as http:
        sid = (await http.post("/ai/sessions", json={"client_id": "first"})).json()["id"]
        first = Device(stack.url, sid, "first", token)
        await first.connect()
        answer = await http.post(
            f"/ai/sessions/{sid}/message", json={"content": f"/tokens {TOKENS} rate={RATE}"}
        )
        assert answer.status_code == 202, answer.text
    return answer.json()["run_id"], first


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.timeout(120)
async def test_a_device_joining_mid_run_reconstructs_the_whole_text(stack: Stack) -> None:
    token = await dev_token(stack.url, "carol")
    run_id, first = await start_run(stack, token)
    await first.until(run_id, tokens=300)
    sid = first.hello["session_id"]
    late = Device(stack.url, sid, "late-tab", token)
    hello = await late.connect()
    assert hello["resumed"] is False and hello["recovered"] is False  # no cursor: catch-up
    active = hello["active_run"]
    assert active["run_id"] == run_id and active["seq"] >= 300
    assert active["text"].startswith("t1 t2 t3 ")
    done_late, done_first = await asyncio.gather(late.until(run_id), first.until(run_id))
    assert done_late.holes == [] and done_first.holes == []
    assert done_late.text == done_first.text
    assert done_first.text.split() == [f"t{i}" for i in range(1, TOKENS + 1)]
    async with httpx.AsyncClient(base_url=stack.url, headers=_bearer(token)) as http:
        detail = (await http.get(f"/ai/sessions/{sid}")).json()
    assert detail["active_run"] is None or detail["active_run"]["run_id"] == run_id
    await asyncio.gather(first.close(), late.close())


@pytest.mark.timeout(120)
async def test_catch_up_survives_the_late_devices_gateway_being_killed(stack: Stack) -> None:
    token = await dev_token(stack.url, "dan")
    run_id, first = await start_run(stack, token)
    doomed, doomed_url = await second_gateway(stack)
    try:
        await first.until(run_id, tokens=200)
        sid = first.hello["session_id"]
        late = Device(doomed_url, sid, "late-phone", token)
        assert (await late.connect())["active_run"]["run_id"] == run_id
        for _ in range(30):  # some of the live tail, part of it acked
            await late.next_event()
        doomed.kill()
        late.url = late.url.replace(
            doomed_url.replace("http://", "ws://"), stack.url.replace("http://", "ws://")
        )
        hello = await late.connect()  # with the cursor of the last event it got
        assert hello["recovered"] is True and hello["resumed"] is True
        assert hello.get("active_run") is None  # what it missed is replayed, no catch-up
        done_late, done_first = await asyncio.gather(late.until(run_id), first.until(run_id))
        assert done_late.holes == [] and done_late.text == done_first.text
        assert done_late.text.split() == [f"t{i}" for i in range(1, TOKENS + 1)]
        await asyncio.gather(first.close(), late.close())
    finally:
        doomed.stop(5)


@pytest.mark.timeout(60)
async def test_rest_detail_carries_the_active_run_so_far(stack: Stack) -> None:
    token = await dev_token(stack.url, "erin")
    run_id, first = await start_run(stack, token)
    await first.until(run_id, tokens=50)
    sid = first.hello["session_id"]
    async with httpx.AsyncClient(base_url=stack.url, headers=_bearer(token)) as http:
        active = (await http.get(f"/ai/sessions/{sid}")).json()["active_run"]
        assert active["run_id"] == run_id and active["id"] == run_id
        assert active["status"] == "running" and active["agent_type"] == "personal"
        words = active["text"].split()
        assert words == [f"t{i}" for i in range(1, len(words) + 1)]
        assert (await http.post(f"/ai/sessions/{sid}/cancel")).status_code == 202
    assert (await first.until(run_id)).ended
    await first.close()


@pytest.mark.timeout(60)
async def test_a_hello_has_no_active_run_when_no_run_is_in_progress(stack: Stack) -> None:
    """Before the first run and after the last one, a new device's hello carries no run."""
    token = await dev_token(stack.url, "frank")
    async with httpx.AsyncClient(base_url=stack.url, headers=_bearer(token)) as http:
        sid = (await http.post("/ai/sessions", json={"client_id": "first"})).json()["id"]
        first = Device(stack.url, sid, "first", token)
        assert (await first.connect()).get("active_run") is None
        answer = await http.post(f"/ai/sessions/{sid}/message", json={"content": "/tokens 5"})
        assert answer.status_code == 202, answer.text
        await first.until(answer.json()["run_id"])
    # The hello's state is exact (REST's may lag a moment behind run_end, as the docs say).
    later = Device(stack.url, sid, "later", token)
    assert (await later.connect()).get("active_run") is None
    await asyncio.gather(first.close(), later.close())


async def _joins(http: httpx.AsyncClient, start: str) -> float:
    """The gateway's `gateway_joins_total{start=...}`."""
    for line in (await http.get("/metrics")).text.splitlines():
        if line.startswith(f'gateway_joins_total{{start="{start}"}}'):
            return float(line.split()[-1])
    return 0.0


@pytest.mark.timeout(90)
async def test_a_known_device_of_an_idle_session_joins_from_its_device_check(stack: Stack) -> None:
    """A known device connecting without a cursor to a session with no run in progress starts
    where its device check read the session (`idle_at`), with no catch-up request, and then
    gets the next run whole."""
    token = await dev_token(stack.url, "grace")
    async with httpx.AsyncClient(base_url=stack.url, headers=_bearer(token)) as http:
        sid = (await http.post("/ai/sessions", json={"client_id": "first"})).json()["id"]
        first = Device(stack.url, sid, "first", token)
        await first.connect()
        answer = await http.post(f"/ai/sessions/{sid}/message", json={"content": "/tokens 5"})
        assert answer.status_code == 202, answer.text
        await first.until(answer.json()["run_id"])
        await first.close()
        joined: list[Device] = []

        async def joined_idle() -> bool:  # ingest folds the run's end a moment after devices see it
            before = await _joins(http, "idle")
            device = Device(stack.url, sid, "first", token)
            hello = await device.connect()
            assert hello.get("active_run") is None and hello["recovered"] is False
            if await _joins(http, "idle") > before:
                joined.append(device)
                return True
            await device.close()
            return False

        await wait_until(joined_idle, timeout=30, interval=0.2)
        device = joined[0]
        answer = await http.post(f"/ai/sessions/{sid}/message", json={"content": "/tokens 20"})
        assert answer.status_code == 202, answer.text
        run = await device.until(answer.json()["run_id"])
        assert run.ended and not run.holes and run.seq > 20  # from its run_start, no gap
        await device.close()
