"""The fake gateway's scripted agent: the orchestrator stub's directives, in process."""

import asyncio
import base64
import io
import wave
from collections.abc import Awaitable, Callable
from typing import Any

from switchboard_events import make_event, new_id

Emit = Callable[[dict[str, Any]], Awaitable[None]]


def event_dict(event_type: str, data: dict[str, Any], **envelope: Any) -> dict[str, Any]:
    """A valid event as the JSON object a gateway sends."""
    return make_event(event_type, data, **envelope).model_dump(mode="json", by_alias=True)


def tiny_wav(samples: int = 800) -> str:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(bytes(2 * samples))
    return base64.b64encode(buffer.getvalue()).decode()


class Run:
    """One run: numbers its events and stops at the next step once cancelled."""

    def __init__(self, emit: Emit, session_id: str, run_id: str, agent: str) -> None:
        self.emit_raw = emit
        self.session_id = session_id
        self.run_id = run_id
        self.agent = agent
        self.seq = 0
        self.cancelled = asyncio.Event()

    async def emit(self, event_type: str, data: dict[str, Any]) -> None:
        self.seq += 1
        event = event_dict(
            event_type,
            data,
            session_id=self.session_id,
            run_id=self.run_id,
            seq=self.seq,
            agent_type=self.agent,
        )
        await self.emit_raw(event)


async def script(run: Run, content: str) -> tuple[str, str]:
    """Emit the run's events for `content`; returns (status, reply)."""
    words = content.split()
    head = words[0] if words else ""
    if head == "/tokens":
        count = int(words[1]) if len(words) > 1 else 5
        await run.emit("thinking", {"status": "thinking", "message": "Thinking"})
        for i in range(1, count + 1):
            if run.cancelled.is_set():
                return "cancelled", ""
            await run.emit("token", {"token": f"t{i} "})
            await asyncio.sleep(0)
        return "completed", "".join(f"t{i} " for i in range(1, count + 1))
    if head == "/sleep":
        await run.emit("waiting", {"status": "waiting", "message": "Sleeping"})
        try:
            await asyncio.wait_for(run.cancelled.wait(), float(words[1]))
            return "cancelled", ""
        except TimeoutError:
            return "completed", "Slept."
    if head == "/tool":
        call = {"call_id": new_id(), "tool_name": words[1], "parameters": {}}
        await run.emit("tool_call", call)
        result = {"call_id": call["call_id"], "tool_name": words[1], "result": {"time": "12:00"}}
        await run.emit("tool_result", result)
        return "completed", "The time is 12:00."
    if head == "/agent":
        await run.emit("agent_switch", {"from": run.agent, "to": words[1], "reason": "asked"})
        run.agent = words[1]
        return "completed", f"Hello from {words[1]}."
    if head == "/speak":
        for chunk in range(2):
            await run.emit("tts", {"audio": tiny_wav(), "chunk": chunk, "final": chunk == 1})
        return "completed", " ".join(words[1:])
    if head == "/error":
        await run.emit("error", {"code": "scripted", "message": "You asked for an error."})
        return "failed", ""
    return "completed", f"You said: {content}"


async def play(run: Run, content: str, message_id: str) -> str:
    """The whole run: run_start, the script, response, run_end; returns the reply."""
    await run.emit("run_start", {"message_id": message_id})
    status, reply = await script(run, content)
    if status == "completed":
        await run.emit("response", {"content": reply, "message_id": new_id()})
    await run.emit("run_end", {"status": status})
    return reply
