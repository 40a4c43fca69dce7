"""`switchboard-session dead-letters list|count|replay|purge`: what consumers parked.

`list` shows the oldest dead letters of a source and leaves them in place; `replay` sends
them back to the queue they came from (the consumer tries them again: replay after fixing
the cause); `purge` drops them. Sources: `session-store`, `runs`, `tools`.
"""

import argparse
import asyncio
import json
from dataclasses import asdict

from switchboard_events import broker_connection, names_from
from switchboard_events.deadletter_admin import depth, peek, purge, replay
from switchboard_events.routing import DEAD_LETTER_SOURCES

from .settings import SessionSettings


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
            elif action == "replay":
                print(f"{source}\treplayed {await replay(channel, names, source, limit)}")
            else:
                print(f"{source}\tpurged {await purge(channel, names, source)}")
