"""The agent behind `MODEL_BACKEND=agui`: any AG-UI agent at `AGUI_URL` (Pydantic AI, LangGraph,
Mastra, CrewAI, ...). One turn is one `POST` of a `RunAgentInput` (agui_input.py) answered by
a `text/event-stream` of AG-UI events, mapped as they come (agui_events.py). Closing the turn
(a cancel) closes the HTTP response, which ends the agent's run. An agent that cannot be
reached, answers an HTTP error or breaks off its stream fails the run (`error`
`agent_error`, naming the URL)."""

from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx

from .agui_events import TurnMapper
from .agui_input import run_input
from .backend import BackendError, Chunk, Message, TurnInput


class AguiBackend:
    offers_tools = True
    offers_transfers = False

    def __init__(self, client: httpx.AsyncClient, url: str) -> None:
        self._client = client
        self._url = url
        self._where = f"AG-UI agent {url}"

    async def turn(
        self,
        messages: Sequence[Message],
        tools: Sequence[dict[str, Any]],
        agent_type: str,
        *,
        final: bool = False,
        about: TurnInput = TurnInput(),
    ) -> AsyncIterator[Chunk]:
        offered = [] if final else list(tools)
        body = run_input(messages, offered, about)
        names = frozenset(t["function"]["name"] for t in offered)
        mapper = TurnMapper(self._where, names, refused=about.refused)
        mapper.awaiting(messages)
        headers = {"Accept": "text/event-stream"}
        try:
            async with self._client.stream("POST", self._url, json=body, headers=headers) as reply:
                await self._check(reply)
                async for data in sse_data(reply):
                    for chunk in mapper.feed(data):
                        yield chunk
                    if mapper.end is not None:
                        break
        except httpx.HTTPError as exc:
            raise BackendError(f"{self._where}: {_describe(exc)}", "agent_error") from exc
        yield mapper.finish()

    async def _check(self, reply: httpx.Response) -> None:
        if reply.status_code >= 300:
            text = (await reply.aread()).decode(errors="replace")[:200]
            raise BackendError(f"{self._where} answered {reply.status_code}: {text}", "agent_error")
        kind = reply.headers.get("content-type", "")
        if not kind.startswith("text/event-stream"):
            raise BackendError(
                f"{self._where} answered {kind or 'no content type'}, not text/event-stream",
                "agent_error",
            )


async def sse_data(reply: httpx.Response) -> AsyncIterator[str]:
    """The `data` of each server-sent event (its `data:` lines joined by newlines)."""
    lines: list[str] = []
    async for line in reply.aiter_lines():
        if not line:
            if lines:
                yield "\n".join(lines)
                lines = []
        elif line.startswith("data:"):
            value = line[5:]
            lines.append(value[1:] if value.startswith(" ") else value)
    if lines:
        yield "\n".join(lines)


def _describe(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time (AGUI_TIMEOUT_S)"
    if isinstance(exc, httpx.ConnectError):
        return f"unreachable ({exc})"[:300]
    return f"the stream broke off ({type(exc).__name__}: {exc})"[:300]


def agui_client(timeout_s: float) -> httpx.AsyncClient:
    """The HTTP client turns stream with (closed when the worker stops)."""
    return httpx.AsyncClient(timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)))
