"""A reader of the AG-UI endpoints' SSE streams, written from docs/protocol.md: each event an
`id:` and a `data:` line (an AG-UI event as JSON); `:` lines keep the stream alive."""

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class SseEvent:
    id: str
    data: dict[str, Any]

    @property
    def type(self) -> str:
        return str(self.data["type"])


async def events(response: httpx.Response) -> AsyncIterator[SseEvent]:
    """The events of a streaming response, as they come."""
    event_id, data = "", []
    async for line in response.aiter_lines():
        if line.startswith("id:"):
            event_id = line[3:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif not line and data:
            yield SseEvent(event_id, json.loads("\n".join(data)))
            event_id, data = "", []


def text_of(received: list[SseEvent]) -> str:
    """The text of the TEXT_MESSAGE_CONTENT events, in order."""
    return "".join(e.data["delta"] for e in received if e.type == "TEXT_MESSAGE_CONTENT")


def run_input(session_id: str, content: str, **forwarded: Any) -> dict[str, Any]:
    """A RunAgentInput whose last message is the user's `content`."""
    return {
        "threadId": session_id,
        "runId": "client-run-1",
        "state": {},
        "messages": [{"id": "u1", "role": "user", "content": content}],
        "tools": [],
        "context": [],
        "forwardedProps": forwarded,
    }
