"""A whole conversation through the SDK against every real service, each its own process."""

import asyncio
import contextlib
from typing import Any

import pytest
from switchboard_client import Backoff, Busy, StreamOptions, SwitchboardClient

from tests.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.broker, pytest.mark.db, pytest.mark.timeout(120)]


class Conversation:
    """Sends messages and collects each run's events from one live stream."""

    def __init__(self, client: SwitchboardClient, sid: str) -> None:
        self.client, self.sid = client, sid
        self.items: asyncio.Queue[Any] = asyncio.Queue()

    async def pump(self, stream: Any) -> None:
        async for item in stream:
            await self.items.put(item)

    async def send(self, content: str) -> str:
        """The run id; retries while the previous run is still being closed server-side."""
        async with asyncio.timeout(10):
            while True:
                with contextlib.suppress(Busy):
                    return str((await self.client.send_message(self.sid, content))["run_id"])
                await asyncio.sleep(0.1)

    async def until(self, run_id: str, last: str = "run_end") -> list[Any]:
        got: list[Any] = []
        async with asyncio.timeout(30):
            while not got or got[-1].type != last:
                item = await self.items.get()
                if getattr(item, "run_id", None) == run_id:
                    got.append(item)
        return got

    async def run(self, content: str) -> list[Any]:
        return await self.until(await self.send(content))


def first(events: list[Any], kind: str) -> Any:
    return next(e for e in events if e.type == kind)


async def test_a_full_conversation(stack: Stack) -> None:
    token = await SwitchboardClient.dev_token("alice", stack.url)
    live = asyncio.Event()
    options = StreamOptions(backoff=Backoff(base_s=0.05, cap_s=1))
    async with SwitchboardClient(stack.url, token, stream_options=options) as client:
        sid = (await client.create_session())["id"]
        chat = Conversation(client, sid)
        stream = client.events(sid, "e2e-1", on_state=lambda s: live.set() if s == "live" else None)
        pump = asyncio.create_task(chat.pump(stream))
        await asyncio.wait_for(live.wait(), 20)
        try:
            hello = await chat.run("hello there")
            assert [e.type for e in hello][-2:] == ["response", "run_end"], stack.logs()
            assert [e.seq for e in hello] == list(range(1, len(hello) + 1))

            tool = await chat.run("/tool get_time")
            call, result = first(tool, "tool_call"), first(tool, "tool_result")
            assert call.data.tool_name == "get_time" and result.data.error is None
            assert result.data.call_id == call.data.call_id and first(tool, "response")

            agent = await chat.run("/agent travel")
            assert first(agent, "agent_switch").data.to == "travel"

            speak = await chat.run("/speak hi")
            chunks = [e for e in speak if e.type == "tts"]
            assert chunks and chunks[-1].data.final and first(speak, "response")

            sleeping = await chat.send("/sleep 30")
            await chat.until(sleeping, last="waiting")
            await client.cancel(sid)
            ended = await chat.until(sleeping)
            assert ended[-1].data.status == "cancelled"

            stored = await client.get_session(sid)
            assert [m["role"] for m in stored["messages"]].count("user") == 5
        finally:
            pump.cancel()
            await asyncio.gather(pump, return_exceptions=True)
