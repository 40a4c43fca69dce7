"""`python -m bench.publisher_loop [ROUNDS] [SESSIONS]`: CPU per event of RunStream + Publisher
alone, and of the broker (the `beam.smp` on `AMQP_URL`'s port): each round emits one token per
session and waits for every confirm, so a round is about one batch message per shard stream."""

import asyncio
import sys
import time
import uuid

import aio_pika
from switchboard_events import (
    BrokerSettings,
    Publisher,
    RunStream,
    declare_topology,
    delete_topology,
    names_from,
)

from .usage import cpu_seconds, find_broker


async def measure(rounds: int, sessions: int) -> str:
    settings = BrokerSettings(BROKER_PREFIX=f"loop{uuid.uuid4().hex[:6]}.")
    names, broker = names_from(settings), find_broker(settings.amqp_url)
    ids = [f"s{i}" for i in range(sessions)]
    async with await aio_pika.connect(settings.amqp_url) as conn:
        channel = await conn.channel()
        await declare_topology(channel, names, settings)
        confirmed = await conn.channel(publisher_confirms=True)
        publisher = await Publisher(confirmed, names, settings).start()
        streams = [RunStream(publisher, session_id=sid, run_id="r") for sid in ids]
        cpu0, beam0 = time.process_time(), cpu_seconds(broker) if broker else 0.0
        for r in range(rounds):
            for stream in streams:
                await stream.emit("token", {"token": f"t{r} "}, metadata={"t": time.time()})
            await asyncio.gather(*(stream.drain() for stream in streams))
        cpu, beam = time.process_time() - cpu0, (cpu_seconds(broker) if broker else 0.0) - beam0
        await delete_topology(channel, names, settings)
    n = rounds * sessions
    return (
        f"{n} events in {publisher.messages_sent} messages: "
        f"publisher {cpu / n * 1e6:.0f} µs/event, broker {beam / n * 1e6:.0f} µs/event"
        + ("" if broker else " (broker not local)")
    )


def main() -> None:
    rounds, sessions = (int(a) for a in (sys.argv[1:3] + ["200", "50"][len(sys.argv[1:3]) :]))
    print(asyncio.run(measure(rounds, sessions)))


if __name__ == "__main__":
    main()
