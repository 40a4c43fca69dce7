"""A local OpenAI-compatible server speaking the real streaming chunk format.

Each request takes the next scripted reply (`FakeModel.replies`): text deltas, tool-call
deltas split across chunks, a usage chunk, an HTTP error status, or a stream that holds
after its first text until the client goes away. Every request body is recorded, and
`closed` is set when a client drops a stream before its end.
"""

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from switchboard_stack import free_port


@dataclass
class Reply:
    text: list[str] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """(name, arguments) of each tool call, streamed in pieces, all in one turn."""
    status: int = 200
    retry_after: str | None = None
    hold: bool = False
    """Stream the first text piece, then wait until the client disconnects."""
    usage: tuple[int, int] = (7, 5)


@dataclass
class FakeModel:
    url: str = ""
    replies: list[Reply] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    received: asyncio.Event = field(default_factory=asyncio.Event)
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    def next_reply(self) -> Reply:
        return self.replies.pop(0) if self.replies else Reply(text=["ok"])


def _chunk(delta: dict[str, Any] | None, **extra: Any) -> str:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": None}]
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "tiny",
        "choices": choices,
        **extra,
    }
    return f"data: {json.dumps(body)}\n\n"


def _call_chunks(index: int, name: str, arguments: dict[str, Any]) -> list[str]:
    raw = json.dumps(arguments)
    half = len(raw) // 2
    head = {"index": index, "id": f"call_{index}", "type": "function"}
    return [
        _chunk({"tool_calls": [{**head, "function": {"name": name, "arguments": ""}}]}),
        _chunk({"tool_calls": [{"index": index, "function": {"arguments": raw[:half]}}]}),
        _chunk({"tool_calls": [{"index": index, "function": {"arguments": raw[half:]}}]}),
    ]


async def _stream(model: FakeModel, reply: Reply) -> AsyncIterator[str]:
    try:
        yield _chunk({"role": "assistant", "content": ""})
        for piece in reply.text:
            yield _chunk({"content": piece})
            if reply.hold:
                await asyncio.Event().wait()  # until the client goes away
        for index, (name, arguments) in enumerate(reply.calls):
            for chunk in _call_chunks(index, name, arguments):
                yield chunk
        prompt, completion = reply.usage
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        yield _chunk(None, usage=usage)
        yield "data: [DONE]\n\n"
    except asyncio.CancelledError:
        model.closed.set()
        raise


def _app(model: FakeModel) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def completions(request: Request) -> Any:
        body = await request.json()
        model.requests.append({"body": body, "auth": request.headers.get("authorization")})
        model.received.set()
        reply = model.next_reply()
        if reply.status != 200:
            headers = {"retry-after": reply.retry_after} if reply.retry_after else {}
            error = {"error": {"message": f"status {reply.status}", "type": "server_error"}}
            return JSONResponse(error, status_code=reply.status, headers=headers)
        return StreamingResponse(_stream(model, reply), media_type="text/event-stream")

    return app


@asynccontextmanager
async def fake_model() -> AsyncIterator[FakeModel]:
    model = FakeModel()
    port = free_port()
    config = uvicorn.Config(_app(model), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "fake model server did not start"
        await asyncio.sleep(0.02)
    model.url = f"http://127.0.0.1:{port}/v1"
    try:
        yield model
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
