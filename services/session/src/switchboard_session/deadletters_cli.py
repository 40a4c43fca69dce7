"""`switchboard-session dead-letters list|count|replay|purge`: what consumers parked.

`list` shows the oldest dead letters of a source and leaves them in place; `replay` sends
them back to the queue they came from (the consumer tries them again: replay after fixing
the cause; a `session-store` letter goes back onto its session's shard stream, where ingest
reads it again); `purge` drops them. Sources: `session-store`, `runs`, `tools`.
"""

import argparse
import asyncio
import contextlib
import json
from dataclasses import asdict

import aio_pika
from aio_pika.abc import AbstractChannel
from switchboard_events import Names, broker_connection, names_from
from switchboard_events.codec import BATCH_CONTENT_TYPE
from switchboard_events.deadletter import SOURCE
from switchboard_events.deadletter_admin import depth, peek, purge, replay
from switchboard_events.routing import DEAD_LETTER_SOURCES, shard_of

from .settings import SessionSettings
from .shard import SOURCE as STORE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="switchboard-session dead-letters", description=__doc__)
    parser.add_argument("action", choices=["list", "count", "replay", "purge"])
    parser.add_argument(
        "--source",
        choices=DEAD_LETTER_SOURCES,
        default=None,
        help="one source (default: every source; purge needs one)",
    )
    parser.add_argument("--limit", type=int, default=20, help="list/replay: at most this many")
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.action == "purge" and args.source is None:
        print("purge needs --source", flush=True)
        return 2
    sources = [args.source] if args.source else list(DEAD_LETTER_SOURCES)
    asyncio.run(_run(args.action, sources, args.limit))
    return 0


async def _run(action: str, sources: list[str], limit: int) -> None:
    settings = SessionSettings()
    names = names_from(settings)
    async with broker_connection(settings, "switchboard-dead-letters") as conn:
        channel = await conn.channel(publisher_confirms=True)
        for source in sources:
            if action == "count":
                print(f"{source}\t{await depth(conn, names, source)}")
            elif action == "list":
                for parked in await peek(channel, names, source, limit):
                    print(json.dumps({"source": source, **asdict(parked)}, ensure_ascii=False))
            elif action == "replay" and source == STORE:
                count = await replay_events(channel, names, settings.stream_shards, limit)
                print(f"{source}\treplayed {count}")
            elif action == "replay":
                print(f"{source}\treplayed {await replay(channel, names, source, limit)}")
            else:
                print(f"{source}\tpurged {await purge(channel, names, source)}")


async def replay_events(channel: AbstractChannel, names: Names, shards: int, limit: int) -> int:
    """Send up to `limit` of ingest's dead letters back to their shard stream (the one named
    in `x-source-queue`, else the event's session's), each confirmed before it is removed."""
    queue = await channel.get_queue(names.dead_letter_queue(STORE))
    streams = names.streams(shards)
    count = 0
    while count < limit:
        message = await queue.get(no_ack=False, fail=False)
        if message is None:
            break
        try:
            stream = str((message.headers or {}).get(SOURCE, ""))
            if stream not in streams:
                stream = streams[shard_of(str(json.loads(message.body)["session_id"]), shards)]
            copy = aio_pika.Message(
                message.body,
                content_type=BATCH_CONTENT_TYPE,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            )
            await channel.default_exchange.publish(copy, stream)
        except BaseException:
            with contextlib.suppress(Exception):
                await message.nack(requeue=True)
            raise
        await message.ack()
        count += 1
    return count
