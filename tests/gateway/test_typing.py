"""Issue 25, finding 8: typing fans out to every other device of a session, so it is coalesced
per device (TYPING_INTERVAL_S, 1 s): a device typing as fast as the frame limit lets it makes
about one `typing` event a second, and its last frame's event still comes. Driven as a client
would: two devices on two gateway replicas, from docs/protocol.md."""

import asyncio
import json

import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from tests.gateway.conftest import Stack
from tests.gateway.helpers import connect

pytestmark = pytest.mark.timeout(60)

INTERVAL_S = 1.0
"""TYPING_INTERVAL_S's default."""
TYPING = json.dumps({"type": "typing"})


async def _typing_seen(ws: ClientConnection, quiet_s: float) -> int:
    """`typing` events from other devices until none has come for `quiet_s`."""
    seen = 0
    try:
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), quiet_s))
            seen += frame.get("type") == "typing"
    except (TimeoutError, websockets.ConnectionClosed):
        return seen


async def test_a_device_typing_19_frames_a_second_makes_about_one_event_a_second(
    stack: Stack,
) -> None:
    """The probe's rate (19 frames/s, within FRAME_RATE_PER_S): 57 frames over 3 s reach the
    other device as one event per TYPING_INTERVAL_S, the first at once and the last after the
    frames stop (before: all 57)."""
    sid = await stack.session()
    phone, _ = await connect(stack.a, sid, "phone")
    laptop, _ = await connect(stack.b, sid, "laptop")
    loop = asyncio.get_running_loop()
    started = loop.time()
    for _ in range(57):
        await phone.send(TYPING)
        await asyncio.sleep(1 / 19)
    elapsed = loop.time() - started
    seen = await _typing_seen(laptop, quiet_s=3 * INTERVAL_S)
    assert 2 <= seen <= elapsed / INTERVAL_S + 2, (seen, elapsed)
    await phone.close()
    await laptop.close()


async def test_the_last_typing_frame_is_not_lost(stack: Stack) -> None:
    """Three frames at once: the first goes out at once, the other two as one event when the
    interval has passed; each device's frames are coalesced on their own."""
    sid = await stack.session()
    phone, _ = await connect(stack.a, sid, "phone")
    tablet, _ = await connect(stack.a, sid, "tablet")
    laptop, _ = await connect(stack.b, sid, "laptop")
    for _ in range(3):
        await phone.send(TYPING)
        await tablet.send(TYPING)
    senders: list[str] = []
    async with asyncio.timeout(20):
        while sorted(senders) != ["phone", "phone", "tablet", "tablet"]:
            frame = json.loads(await laptop.recv())
            if frame.get("type") == "typing":
                senders.append(frame["metadata"]["client_id"])
    for ws in (phone, tablet, laptop):
        await ws.close()
