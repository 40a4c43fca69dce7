"""Time to first audio (issue 27): a voice reply of 300 words at 20 tokens/s, from its first
`token` to its first `tts` chunk. Target <= 1.5 s (reported, never asserted).

A real run worker at shipped defaults (espeak-ng speaks) runs in this process on a fresh broker
prefix; the bench plays the session service: it publishes `/tokens 300 rate=20` as a voice run
request and reads the session's shard stream (from `next`). Both times are this reader's
receipt times.
`python -m bench --voice [--voice-runs N]` runs it alone and writes `voice.json`.
"""

import asyncio
import json
import statistics
from pathlib import Path
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel
from switchboard_events import BrokerSettings, Names, broker_connection, new_id, parse_event
from switchboard_events.routing import names_from, shard_of
from switchboard_events.stream_reader import StreamReader
from switchboard_events.topology import RUN_KEY
from switchboard_orchestrator.settings import WorkerSettings
from switchboard_orchestrator.worker_main import serve
from switchboard_stack import isolated_broker

WORDS, RATE = 300, 20
TARGET_S = 1.5
TIMEOUT_S = 60.0


async def measure(amqp_url: str, runs: int) -> dict[str, Any]:
    """`runs` voice replies in turn; each one's seconds from its first token to its first audio."""
    async with isolated_broker(amqp_url, "benchvoice") as broker:
        settings = WorkerSettings(**broker.model_dump(by_alias=True))
        stop = asyncio.Event()
        ready: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        worker = asyncio.create_task(serve(settings, stop, ready.set_result))
        await asyncio.wait({worker, ready}, timeout=TIMEOUT_S, return_when="FIRST_COMPLETED")
        try:
            async with broker_connection(broker, "bench-voice") as connection:
                channel = await connection.channel()
                figures = [await _one(channel, names_from(broker), broker) for _ in range(runs)]
        finally:
            stop.set()
            await asyncio.wait_for(worker, TIMEOUT_S)
    return {
        "reply": f"{WORDS} words at {RATE} tokens/s (/tokens {WORDS} rate={RATE}, voice)",
        "first_audio_s": figures,
        "median_s": statistics.median(figures),
        "max_s": max(figures),
        "target_s": TARGET_S,
    }


async def _one(channel: AbstractChannel, names: Names, broker: BrokerSettings) -> float:
    session_id = new_id()
    seen: asyncio.Queue[tuple[float, str]] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    def on_batch(_offset: int, lines: list[bytes]) -> None:
        for line in lines:
            event = parse_event(line)
            if event.session_id == session_id:
                seen.put_nowait((loop.time(), event.type))

    shard = shard_of(session_id, broker.stream_shards)
    reader = StreamReader(broker.broker_urls, names, shard, on_batch, start="next")
    await reader.start()
    await _publish(channel, names, session_id)
    first: dict[str, float] = {}
    try:
        async with asyncio.timeout(TIMEOUT_S):
            while (item := await seen.get())[1] != "run_end":
                first.setdefault(item[1], item[0])
    finally:
        await reader.close()
    return round(first["tts"] - first["token"], 3)


async def _publish(channel: AbstractChannel, names: Names, session_id: str) -> None:
    request: dict[str, Any] = {
        "run_id": new_id(),
        "session_id": session_id,
        "message_id": new_id(),
        "user_id": "bench",
        "agent_type": "personal",
        "mode": "voice",
        "content": f"/tokens {WORDS} rate={RATE}",
        "audio_b64": None,
        "client_id": "bench",
        "metadata": {},
    }
    exchange = await channel.get_exchange(names.commands_exchange)
    await exchange.publish(aio_pika.Message(json.dumps(request).encode()), RUN_KEY)


def run_alone(amqp_url: str, runs: int, out_dir: Path) -> int:
    """`--voice`: measure, print, write `voice.json` beside the other results."""
    result = asyncio.run(measure(amqp_url, runs))
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "voice.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    verdict = "meets" if result["max_s"] <= TARGET_S else "misses"
    print(
        f"time to first audio, {result['reply']}: median {result['median_s']:.3f} s, "
        f"max {result['max_s']:.3f} s over {runs} runs ({verdict} the {TARGET_S} s target)"
    )
    print(f"wrote {path}")
    return 0
