"""A test publisher that keeps publishing through faults and remembers what the broker confirmed."""

import asyncio
import collections
import contextlib
from typing import Any, Literal

from switchboard_events import (
    BrokerSettings,
    Publisher,
    broker_connection,
    make_event,
    names_from,
    new_id,
)

EventType = Literal["thinking", "token"]


def _data(event_type: EventType, seq: int) -> dict[str, Any]:
    if event_type == "token":
        return {"token": f"c{seq} "}
    return {"status": "thinking", "message": f"c{seq}"}


class ConfirmedPublisher:
    """Publishes `event_type` events of one run every `pause_s`, each awaited for its confirm
    (at most `confirm_timeout_s`, None: as long as the publisher retries); keeps the ids
    confirmed and the failures, by exception type.

    Every batch is persistent on its shard's stream, so a confirmed event of either type must
    survive a broker restart or a node loss (the cluster scenarios, tests/cluster/scenario.py,
    publish `token`)."""

    def __init__(
        self,
        broker: BrokerSettings,
        session_id: str,
        event_type: EventType = "thinking",
        pause_s: float = 0.01,
        confirm_timeout_s: float | None = 5,
    ) -> None:
        self.broker = broker
        self.session_id = session_id
        self.event_type = event_type
        self.run_id = new_id()
        self.pause_s = pause_s
        self.confirm_timeout_s = confirm_timeout_s
        self.confirmed: list[str] = []
        self.errors: collections.Counter[str] = collections.Counter()
        self.stop = asyncio.Event()

    @property
    def failed(self) -> int:
        return sum(self.errors.values())

    async def run(self) -> None:
        async with broker_connection(self.broker, "test-confirmed") as conn:
            channel = await conn.channel(publisher_confirms=True)
            publisher = await Publisher(channel, names_from(self.broker), self.broker).start()
            seq = 0
            while not self.stop.is_set():
                seq += 1
                event = make_event(
                    self.event_type,
                    _data(self.event_type, seq),
                    session_id=self.session_id,
                    run_id=self.run_id,
                    seq=seq,
                )
                try:
                    await asyncio.wait_for(publisher.publish(event), self.confirm_timeout_s)
                    self.confirmed.append(event.id)
                except Exception as exc:
                    self.errors[type(exc).__name__] += 1
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
