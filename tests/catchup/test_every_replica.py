"""What a session's owner sees hold on every gateway replica: DELETE closes every live socket
with 4410, `GET /ai/stats` counts live devices everywhere, device caps, paginated history."""

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
import websockets

from tests.catchup.device import Device, dev_token
from tests.catchup.test_late_joiners import second_gateway
from tests.conftest import wait_until
from tests.stack import Stack, isolated_stack

pytestmark = [pytest.mark.broker, pytest.mark.db, pytest.mark.e2e]


@pytest.fixture(scope="module")
async def stack(postgres_admin_url: str, amqp_url: str) -> AsyncIterator[Stack]:
    """One stack for the module (each test uses its own user and sessions)."""
    async with isolated_stack(postgres_admin_url, amqp_url, "replica") as running:
        yield running


async def _session(http: httpx.AsyncClient) -> str:
    answer = await http.post("/ai/sessions", json={})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


async def _close_code(device: Device) -> int | None:
    assert device.ws is not None
    with pytest.raises(websockets.ConnectionClosed) as closed:
        async with asyncio.timeout(20):
            while True:
                await device.next_event()
    return closed.value.rcvd.code if closed.value.rcvd else None


@pytest.mark.timeout(90)
async def test_delete_closes_live_sockets_on_every_replica_and_stats_count_them(
    stack: Stack,
) -> None:
    token = await dev_token(stack.url, "frank")
    other, other_url = await second_gateway(stack)
    try:
        async with httpx.AsyncClient(base_url=stack.url, headers=_auth(token)) as http:
            sid = await _session(http)
            here, there = (
                Device(stack.url, sid, "here", token),
                Device(other_url, sid, "there", token),
            )
            await asyncio.gather(here.connect(), there.connect())
            assert (await http.get("/ai/stats")).json()["live_connections"] == 2
            stranger = await dev_token(stack.url, "mallory")
            theirs = (await http.get("/ai/stats", headers=_auth(stranger))).json()
            assert theirs["live_connections"] == 0 and "gateway_live_connections" not in theirs
            assert (await http.delete(f"/ai/sessions/{sid}")).status_code == 204
            assert await asyncio.gather(_close_code(here), _close_code(there)) == [4410, 4410]
            assert (await http.get("/ai/stats")).json()["live_connections"] == 0
    finally:
        other.stop(5)


@pytest.mark.timeout(60)
async def test_devices_beyond_the_session_cap_are_refused_4429(stack: Stack) -> None:
    token = await dev_token(stack.url, "grace")
    async with httpx.AsyncClient(base_url=stack.url, headers=_auth(token)) as http:
        sid = await _session(http)
        for i in range(15):  # 16 with the creating device ("default")
            answer = await http.post(f"/ai/sessions/{sid}/devices", json={"client_id": f"d{i}"})
            assert answer.status_code == 200, answer.text
        refused = await http.post(f"/ai/sessions/{sid}/devices", json={"client_id": "one-more"})
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "too_many_devices"
        known = await http.post(f"/ai/sessions/{sid}/devices", json={"client_id": "d3"})
        assert known.status_code == 200  # a known device always comes back
    device = Device(stack.url, sid, "one-more", token)
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await device.connect()
        await device.next_event()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4429
    assert "MAX_DEVICES_PER_SESSION" in closed.value.rcvd.reason


@pytest.mark.timeout(60)
async def test_history_is_paginated_newest_page_first(stack: Stack) -> None:
    token = await dev_token(stack.url, "heidi")
    async with httpx.AsyncClient(base_url=stack.url, headers=_auth(token)) as http:
        sid = await _session(http)
        device = Device(stack.url, sid, "default", token)
        await device.connect()
        for _ in range(3):
            answer = await http.post(
                f"/ai/sessions/{sid}/message",
                json={"content": "/tokens 1", "on_busy": "enqueue"},
            )
            assert answer.status_code == 202, answer.text
            await device.until(answer.json()["run_id"])

        async def stored() -> bool:  # answers are stored a moment after run_end
            got = (await http.get(f"/ai/sessions/{sid}")).json()["messages"]
            return len(got) >= 6

        await wait_until(stored)
        detail = (await http.get(f"/ai/sessions/{sid}")).json()
        assert detail["messages_before"] is None
        everything = [m["seq"] for m in detail["messages"]]
        newest = (await http.get(f"/ai/sessions/{sid}", params={"messages_limit": 2})).json()
        assert [m["seq"] for m in newest["messages"]] == everything[-2:]
        older = (
            await http.get(
                f"/ai/sessions/{sid}",
                params={"messages_limit": 2, "before": newest["messages_before"]},
            )
        ).json()
        assert [m["seq"] for m in older["messages"]] == everything[-4:-2]
        too_many = await http.get(f"/ai/sessions/{sid}", params={"messages_limit": 501})
        assert too_many.status_code == 422
        await device.close()


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
