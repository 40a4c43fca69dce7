"""A test publisher that keeps publishing through faults and remembers what the broker confirmed."""

import asyncio
import contextlib

from switchboard_events import (
    BrokerSettings,
    Publisher,
    PublishFailed,
    broker_connection,
    make_event,
    names_from,
    new_id,
)


class ConfirmedPublisher:
    """Publishes `thinking` events of one run every `pause_s`, each awaited for its confirm.

    `thinking`, not `token`: tokens travel transient (TRANSIENT_TOKENS), so a broker restart may
    drop confirmed tokens still buffered; every other type must survive it."""

    def __init__(self, broker: BrokerSettings, session_id: str, pause_s: float = 0.01) -> None:
        self.broker = broker
        self.session_id = session_id
        self.run_id = new_id()
        self.pause_s = pause_s
        self.confirmed: list[str] = []
        self.failed = 0
        self.stop = asyncio.Event()

    async def run(self) -> None:
        async with broker_connection(self.broker, "test-confirmed") as conn:
            channel = await conn.channel(publisher_confirms=True)
            publisher = await Publisher(channel, names_from(self.broker), self.broker).start()
            seq = 0
            while not self.stop.is_set():
                seq += 1
                event = make_event(
                    "thinking",
                    {"status": "thinking", "message": f"c{seq}"},
                    session_id=self.session_id,
                    run_id=self.run_id,
                    seq=seq,
                )
                try:
                    await asyncio.wait_for(publisher.publish(event), 5)
                    self.confirmed.append(event.id)
                except (PublishFailed, TimeoutError, Exception):
                    self.failed += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), self.pause_s)


async def publish_one(broker: BrokerSettings, session_id: str, text: str) -> str:
    """One `warning` event on the session, confirmed by the broker; its id."""
    async with broker_connection(broker, "test-publish-one") as conn:
        channel = await conn.channel(publisher_confirms=True)
        publisher = await Publisher(channel, names_from(broker), broker).start()
        event = make_event("warning", {"code": "probe", "message": text}, session_id=session_id)
        await publisher.publish(event)
        return event.id
