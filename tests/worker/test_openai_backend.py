"""The OpenAI-compatible backend, against a tiny local server speaking its SSE format."""

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from tests.procs import free_port
from tests.worker.harness import Client, assert_seq, running_worker, types, worker_settings

pytestmark = [pytest.mark.broker, pytest.mark.timeout(30)]

PIECES = ["Hel", "lo", " from", " the", " model"]


def fake_model_app(seen: list[dict]) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def completions(request: Request):
        body = await request.json()
        seen.append({"body": body, "auth": request.headers.get("authorization")})
        if body["messages"][-1]["content"] == "break":
            return JSONResponse({"error": {"message": "overloaded"}}, status_code=503)
        return StreamingResponse(sse(body["model"]), media_type="text/event-stream")

    return app


async def sse(model: str) -> AsyncIterator[str]:
    first = {"model": model, "choices": [{"index": 0, "delta": {"role": "assistant"}}]}
    yield f"data: {json.dumps(first)}\n\n"
    for piece in PIECES:
        chunk = {"model": model, "choices": [{"index": 0, "delta": {"content": piece}}]}
        yield f"data: {json.dumps(chunk)}\n\n"
    yield 'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}\n\n'
    yield "data: [DONE]\n\n"


@pytest.fixture
async def model_url() -> AsyncIterator[tuple[str, list[dict]]]:
    seen: list[dict] = []
    port = free_port()
    config = uvicorn.Config(fake_model_app(seen), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "fake model server did not start"
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}/v1", seen
    server.should_exit = True
    await asyncio.wait_for(task, 10)


async def test_model_tokens_stream_through_to_token_events(
    client: Client, broker_settings, model_url
):
    url, seen = model_url
    settings = worker_settings(
        broker_settings,
        MODEL_BACKEND="openai",
        OPENAI_BASE_URL=url,
        OPENAI_API_KEY="sk-test",
        OPENAI_MODEL="tiny",
    )
    device = await client.device()
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    async with running_worker(settings):
        events = await device.run(await client.send(device, "tell me", history=history))
        broken = await device.run(await client.send(device, "break"))
        scripted = await device.run(await client.send(device, "/tokens 2"))

    assert types(events) == ["run_start", "thinking"] + ["token"] * 5 + ["response", "run_end"]
    assert_seq(events)
    assert [e.data.token for e in events if e.type == "token"] == PIECES
    assert events[-2].data.content == "Hello from the model"
    request = seen[0]
    assert request["auth"] == "Bearer sk-test"
    assert request["body"]["stream"] is True and request["body"]["model"] == "tiny"
    assert request["body"]["messages"] == [*history, {"role": "user", "content": "tell me"}]

    assert types(broken) == ["run_start", "thinking", "error", "run_end"]
    assert broken[2].data.code == "model_error" and "503" in broken[2].data.message
    assert types(scripted)[-2:] == ["response", "run_end"]  # directives stay scripted
    assert len(seen) == 2


def test_openai_backend_needs_a_base_url(broker_settings):
    with pytest.raises(ValueError, match="OPENAI_BASE_URL"):
        worker_settings(broker_settings, MODEL_BACKEND="openai")
