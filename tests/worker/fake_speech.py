"""A local OpenAI-compatible speech server speaking the real request and response formats.

`POST /v1/audio/transcriptions` takes the multipart upload (`file`, `model`, `stream`) and
answers `{"text"}`, or with `stream=true` server-sent `transcript.text.delta` events and a
`transcript.text.done`. `POST /v1/audio/speech` takes `{"model", "voice", "input",
"response_format"}` and answers a WAV of espeak-ng saying `input` (22 050 Hz, a streaming
header, as a streaming server sends it). Every request is recorded; `status` makes the next
answers an HTTP error.
"""

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from switchboard_stack import free_port

from tests.speech import espeak_wav


@dataclass
class FakeSpeech:
    url: str = ""
    transcript: str = "/tokens 2"
    status: int = 200
    transcriptions: list[dict[str, Any]] = field(default_factory=list)
    speeches: list[dict[str, Any]] = field(default_factory=list)


def _app(fake: FakeSpeech) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/audio/transcriptions")
    async def transcriptions(request: Request) -> Response:
        form = await request.form()
        upload: Any = form["file"]
        fields = {k: v for k, v in form.items() if k != "file"}
        fake.transcriptions.append({**fields, "file": await upload.read()})
        if fake.status != 200:
            return JSONResponse({"error": {"message": "down"}}, fake.status)
        if fields.get("stream") != "true":
            return JSONResponse({"text": fake.transcript})
        return StreamingResponse(_deltas(fake.transcript), media_type="text/event-stream")

    @app.post("/v1/audio/speech")
    async def speech(request: Request) -> Response:
        body = await request.json()
        fake.speeches.append(body)
        if fake.status != 200:
            return JSONResponse({"error": {"message": "down"}}, fake.status)
        wav = await asyncio.to_thread(espeak_wav, body["input"])
        return Response(wav, media_type="audio/wav")

    return app


async def _deltas(text: str) -> AsyncIterator[str]:
    for word in text.split(" "):
        yield f"data: {json.dumps({'type': 'transcript.text.delta', 'delta': word + ' '})}\n\n"
    yield f"data: {json.dumps({'type': 'transcript.text.done', 'text': text})}\n\n"


@asynccontextmanager
async def fake_speech() -> AsyncIterator[FakeSpeech]:
    fake = FakeSpeech()
    port = free_port()
    config = uvicorn.Config(_app(fake), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "fake speech server did not start"
        await asyncio.sleep(0.02)
    fake.url = f"http://127.0.0.1:{port}/v1"
    try:
        yield fake
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
