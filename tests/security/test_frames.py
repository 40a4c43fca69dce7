"""Hostile WebSocket frames (hypothesis-generated, plus huge frames, binary and floods): the
gateway stays up with flat memory, and a well-behaved client keeps receiving events."""

import asyncio
import json
from typing import Any

import psutil
import pytest
import websockets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from switchboard_events import BrokerSettings, Publisher, broker_connection, make_event, names_from
from switchboard_gateway.settings import GatewaySettings

from tests.reliability.device import Device
from tests.security.tokens import good
from tests.security.wsclient import rest, ws_base
from tests.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.broker, pytest.mark.db, pytest.mark.timeout(120)]

DEFAULTS = GatewaySettings.model_construct()
"""The shipped limits the stack runs with (model_construct: defaults only, no environment)."""

ALLOWED_CLOSES = {4400, 4429, 1009}
"""How a gateway may end an abusive connection; 1011 (internal error) is a bug."""

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
frame_types = st.sampled_from(
    ["ack", "message", "cancel", "typing", "refresh", "auth", "ping", "", "nope", "\u0000"]
)
shaped = st.fixed_dictionaries(
    {"type": frame_types | st.text(max_size=20) | st.integers()},
    optional={
        "id": json_values,
        "content": json_values,
        "metadata": json_values,
        "token": json_values,
        "on_busy": json_values,
    },
).map(json.dumps)
frames = st.one_of(
    shaped,
    json_values.map(json.dumps),
    st.text(max_size=300),
    st.binary(max_size=300),
)


def _examples(n: int) -> list[str | bytes]:
    found: list[str | bytes] = []

    @settings(
        max_examples=n,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(frames)
    def collect(frame: str | bytes) -> None:
        found.append(frame)

    collect()
    return found


async def _publish(broker: BrokerSettings, session_id: str, text: str) -> str:
    async with broker_connection(broker, "test-frames") as conn:
        channel = await conn.channel(publisher_confirms=True)
        publisher = await Publisher(channel, names_from(broker), broker).start()
        event = make_event("warning", {"code": "probe", "message": text}, session_id=session_id)
        await publisher.publish(event)
        return event.id


class Attacker:
    """Sends frames on one connection at a time and records how each connection ended. A frame
    whose send fails (the gateway closed the connection) is not sent again on a new one: the
    next `send` opens a fresh connection for the next frame. (Resending the frame that caused a
    close, e.g. a huge one, would cause a second close: the old `[1009, 1009] != [1009]`.)"""

    def __init__(self, url: str) -> None:
        self.url = url
        self.ws: Any = None
        self.closes: list[int | None] = []

    async def send(self, frame: str | bytes) -> None:
        if self.ws is None:
            self.ws = await websockets.connect(self.url, max_size=None, open_timeout=10)
            await self.ws.send(json.dumps({"type": "auth", "token": good()}))
            assert json.loads(await self.ws.recv())["type"] == "connected"
        try:
            await self.ws.send(frame)
        except websockets.ConnectionClosed:
            self._closed()

    async def drain(self) -> None:
        """Read answers until quiet; notices a close (for the random frames, whose effect is
        not known in advance)."""
        if self.ws is None:
            return
        try:
            while True:
                await asyncio.wait_for(self.ws.recv(), 0.05)
        except TimeoutError:
            return
        except websockets.ConnectionClosed:
            self._closed()

    async def until_closed(self, timeout: float = 30) -> None:
        """Read until the gateway closes the connection (the frames sent must make it do so)."""
        if self.ws is None:
            return
        async with asyncio.timeout(timeout):
            try:
                while True:
                    await self.ws.recv()
            except websockets.ConnectionClosed:
                self._closed()

    def _closed(self) -> None:
        self.closes.append(self.ws.close_code)
        self.ws = None


async def _victim(stack: Stack, broker: BrokerSettings) -> tuple[Device, str]:
    token = good()
    sid = (await rest(stack.url, "POST", "/ai/sessions", token, json={})).json()["id"]
    victim = Device(sid, "victim", token)
    await victim.connect(stack.url)
    return victim, sid


async def _still_receives(victim: Device, broker: BrokerSettings) -> None:
    event_id = await _publish(broker, victim.session_id, "still there?")
    await victim.pump(lambda d: event_id in d.seen, timeout=15)


async def test_random_frames_do_not_hurt_the_gateway(secure: tuple[Stack, BrokerSettings]) -> None:
    stack, broker = secure
    gateway = psutil.Process(stack.processes["gateway"].proc.pid)  # type: ignore[union-attr]
    victim, sid = await _victim(stack, broker)
    attacker = Attacker(f"{ws_base(stack.url)}/ai/ws/{sid}?client_id=attacker")
    await attacker.send(json.dumps({"type": "ping"}))
    rss_before = gateway.memory_info().rss
    for i, frame in enumerate(_examples(150)):
        await attacker.send(frame)
        if i % 10 == 0:
            await attacker.drain()
    await attacker.drain()
    await _still_receives(victim, broker)
    assert set(attacker.closes) <= ALLOWED_CLOSES, attacker.closes
    growth = (gateway.memory_info().rss - rss_before) / 2**20
    assert growth < 30, f"gateway RSS grew {growth:.1f} MB"
    await victim.close()


async def test_huge_binary_and_flood(secure: tuple[Stack, BrokerSettings]) -> None:
    stack, broker = secure
    gateway = psutil.Process(stack.processes["gateway"].proc.pid)  # type: ignore[union-attr]
    victim, sid = await _victim(stack, broker)
    url = f"{ws_base(stack.url)}/ai/ws/{sid}?client_id=attacker"
    rss_before = gateway.memory_info().rss

    huge = Attacker(url)
    await huge.send("x" * 2_000_000)
    await huge.until_closed()
    assert huge.closes == [1009], huge.closes

    binary = Attacker(url)  # a text session: binary frames are refused, then 4400
    for _ in range(DEFAULTS.max_bad_frames):  # the last one closes the connection
        await binary.send(b"\x00\xff" * 100)
    await binary.until_closed()
    assert binary.closes == [4400], binary.closes

    flood = Attacker(url)
    for _ in range(400):
        await flood.send(json.dumps({"type": "ping"}))
        if flood.closes:
            break
    await flood.until_closed()
    assert flood.closes == [4429], flood.closes

    await _still_receives(victim, broker)
    growth = (gateway.memory_info().rss - rss_before) / 2**20
    assert growth < 30, f"gateway RSS grew {growth:.1f} MB"
    await victim.close()
