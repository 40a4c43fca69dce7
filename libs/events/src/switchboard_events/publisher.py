"""Publishing events with confirms and per-session coalescing.

Each session has a lane with at most one message in flight, which keeps a session's events in
order across reconnects; lanes of different sessions run in parallel. Batching is adaptive
(Nagle-like): an event that finds its lane idle goes out at once, and events accumulate only
while the lane's previous message is unconfirmed; then they go out together as one AMQP message
of up to `coalesce_max_events` newline-delimited events of one type. A slow or busy broker
(longer confirms) thus makes bigger batches and an idle one adds no latency (a fixed window
cost every event of a slow stream). `coalesce_window_ms` > 0 adds a linger: a lane then waits
up to that long for more events before each send (unless `coalesce_max_events` are pending),
trading latency for fewer, larger messages; the default 0 never lingers.

`token` events go out transient (delivery mode 1) unless TRANSIENT_TOKENS is off: the broker
keeps them in memory only, which saves it a disk write per token; every other type is persistent
(docs/reliability.md says what a broker restart then costs).

Every event's future resolves when the broker confirms its message, or fails with
`PublishFailed`: nothing is dropped silently. A message whose channel or connection is lost
before its confirm (a broker node going away) is sent again once the robust channel is back,
for up to `publish_retry_s`: its events may then reach a queue twice, and clients drop the
copy by event id. A nack is retried the same way with quorum queues (`queue_type` quorum), on
a new channel: RabbitMQ 3.10 gives a channel one client state per quorum queue, made at the
channel's first publish to it from the queue's recorded leader, and never renews it; if that
leader's node is dead (a channel opened right after a node kill, before the election updated
the record), the state's first step (an rpc to that node) fails and every later publish of the
channel to that queue is nacked, for the channel's whole life. With classic queues a nack is
final (a full `reject-publish` queue).
"""

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import cast

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange
from aiormq.channel import Channel
from aiormq.exceptions import ChannelClosed
from pamqp.commands import Basic
from switchboard_protocol import Event

from .codec import BATCH_CONTENT_TYPE, SINGLE_CONTENT_TYPE, encode, encode_batch, event_head
from .routing import TRANSIENT_TYPES, Names
from .settings import BrokerSettings

log = logging.getLogger(__name__)
RETRY_PAUSE_S = 0.1
WITHDRAWN_KEPT = 1024
"""Pause before re-sending a message whose connection was lost (the loss is noticed first)."""

BasicProperties = Basic.Properties


class PublishFailed(RuntimeError):
    """The broker did not confirm a message (nack, channel or connection loss)."""


@dataclass(slots=True)
class _Pending:
    body: bytes
    event_type: str
    event_id: str
    future: asyncio.Future[None]
    run_id: str | None = None


@dataclass
class _Lane:
    pending: deque[_Pending] = field(default_factory=deque)
    task: asyncio.Task[None] | None = None
    more: asyncio.Event = field(default_factory=asyncio.Event)


class Publisher:
    """Publishes events onto `ai.events`; use `enqueue` to stream, `publish` to wait."""

    def __init__(self, channel: AbstractChannel, names: Names, settings: BrokerSettings) -> None:
        self._channel = channel
        self._names = names
        self._max = settings.coalesce_max_events
        self._linger = settings.coalesce_window_ms / 1000
        self._retry_s = settings.publish_retry_s
        self._retry_nacks = settings.queue_type == "quorum"
        self._transient = settings.transient_tokens
        self._exchange: AbstractExchange | None = None
        self._lanes: dict[str, _Lane] = {}
        self._withdrawn: dict[str, None] = {}
        """Runs withdrawn lately (insertion-ordered, the last WITHDRAWN_KEPT): a message of one
        that is still waiting to be sent again after a lost connection is dropped instead."""
        self.messages_sent = 0
        self.events_sent = 0

    async def start(self) -> "Publisher":
        self._exchange = await self._channel.get_exchange(self._names.events_exchange)
        return self

    def enqueue(self, event: Event) -> asyncio.Future[None]:
        """Queue an event; the future resolves once the broker confirmed it."""
        return self._enqueue(event.session_id, encode(event), event.type, event.id, event.run_id)

    def enqueue_encoded(self, body: bytes) -> asyncio.Future[None]:
        """Queue an event already encoded (a stored one, perhaps with fields this version
        does not know): its bytes go out as they are, routed and sent like `enqueue`'s."""
        head = event_head(body)
        return self._enqueue(head.session_id, body, head.type, head.id, head.run_id)

    async def publish(self, event: Event) -> None:
        """Publish one event and wait for the broker's confirm (raises PublishFailed)."""
        await self.enqueue(event)

    def _enqueue(
        self, session_id: str, body: bytes, event_type: str, event_id: str, run_id: str | None
    ) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        lane = self._lanes.get(session_id)
        if lane is None:
            lane = self._lanes[session_id] = _Lane()
        lane.pending.append(_Pending(body, event_type, event_id, future, run_id))
        if lane.task is None:  # nothing in flight: the lane starts sending at once
            lane.task = asyncio.create_task(self._run_lane(session_id, lane))
        elif len(lane.pending) >= self._max:
            lane.more.set()
        return future

    def withdraw(self, session_id: str, run_id: str) -> int:
        """Drop the run's events not yet sent (their futures fail with PublishFailed); how many.
        A message already handed to the broker is not recalled."""
        self._withdrawn[run_id] = None
        while len(self._withdrawn) > WITHDRAWN_KEPT:
            del self._withdrawn[next(iter(self._withdrawn))]
        lane = self._lanes.get(session_id)
        if lane is None:
            return 0
        kept = deque(p for p in lane.pending if p.run_id != run_id)
        dropped = [p for p in lane.pending if p.run_id == run_id]
        lane.pending = kept
        for item in dropped:
            if not item.future.done():
                item.future.set_exception(PublishFailed(f"run {run_id} withdrawn"))
                item.future.exception()  # retrieved: the run that emitted it was abandoned
        return len(dropped)

    async def flush(self) -> None:
        """Wait until every queued event is confirmed or failed."""
        tasks = [lane.task for lane in self._lanes.values() if lane.task is not None]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _run_lane(self, session_id: str, lane: _Lane) -> None:
        """Send what is pending, one message at a time; what arrives during a confirm forms
        the next batch."""
        try:
            while lane.pending:
                if self._linger and len(lane.pending) < self._max:
                    await self._wait_for_more(lane)
                await self._send(session_id, _take_batch(lane.pending, self._max))
                await asyncio.sleep(0)  # producers woken by the confirm add to the next batch
        finally:
            lane.task = None
            if lane.pending:
                lane.task = asyncio.create_task(self._run_lane(session_id, lane))
            else:
                self._lanes.pop(session_id, None)

    async def _wait_for_more(self, lane: _Lane) -> None:
        lane.more.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(lane.more.wait(), self._linger)

    async def _send(self, session_id: str, batch: list[_Pending]) -> None:
        """One AMQP message for `batch`, straight onto the channel (aiormq): no aio-pika
        Message object, and properties prebuilt per content type and durability."""
        assert self._exchange is not None, "Publisher.start() was not awaited"
        single = len(batch) == 1
        body = batch[0].body if single else encode_batch([p.body for p in batch])
        key = self._names.routing_key(session_id, batch[0].event_type)
        properties = message_properties(
            single, self._transient and batch[0].event_type in TRANSIENT_TYPES, batch[0].event_id
        )
        try:
            await self._publish_retrying(body, key, properties, batch[0].run_id)
        except Exception as exc:  # noqa: BLE001 - every failure must reach the callers
            log.warning("publish to %s failed: %r", key, exc)
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(PublishFailed(f"{key}: {exc!r}"))
            return
        self.messages_sent += 1
        self.events_sent += len(batch)
        for item in batch:
            if not item.future.done():
                item.future.set_result(None)

    async def _publish_once(
        self, channel: Channel, body: bytes, key: str, properties: BasicProperties
    ) -> None:
        """One publish straight onto the aiormq channel, returning at its confirm (a nack
        raises DeliveryError); wait=False: no drain per write, the confirm is what counts."""
        assert self._exchange is not None
        await channel.basic_publish(
            body, exchange=self._exchange.name, routing_key=key, properties=properties, wait=False
        )

    async def _publish_retrying(
        self, body: bytes, key: str, properties: BasicProperties, run_id: str | None
    ) -> None:
        """Publish and wait for the confirm; after a lost channel or connection (or a quorum
        nack), wait for the robust channel to be restored and send again, until
        `publish_retry_s` has passed. A message of a run withdrawn meanwhile is not sent again
        (its run was given up: nothing more of it may reach the devices)."""
        assert self._exchange is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._retry_s
        while True:
            if run_id is not None and run_id in self._withdrawn:
                raise PublishFailed(f"run {run_id} withdrawn")
            channel: Channel | None = None
            try:
                # the concrete aiormq channel (its abstract type lacks `wait`)
                channel = cast(Channel, await self._channel.get_underlay_channel())
                await self._publish_once(channel, body, key, properties)
                return
            except aio_pika.exceptions.DeliveryError as exc:
                if not self._retry_nacks or loop.time() >= deadline:
                    raise  # classic: the broker refused it, retrying would not change its mind
                log.info("publish to %s nacked (%r); retrying on a new channel", key, exc)
                ready = getattr(self._channel, "ready", None)  # robust channels only
                if ready is not None and channel is not None:
                    await renew_channel(channel)
                await asyncio.sleep(RETRY_PAUSE_S)
                if ready is not None:
                    await asyncio.wait_for(ready(), max(deadline - loop.time(), 0.001))
            except Exception as exc:
                remaining = deadline - loop.time()
                ready = getattr(self._channel, "ready", None)  # robust channels only
                # a channel its owner closed is never restored (aio-pika's RobustChannel flag)
                if (
                    ready is None
                    or remaining <= 0
                    or getattr(self._channel, "_close_called", False)
                ):
                    raise
                log.info("publish to %s lost (%r); retrying when reconnected", key, exc)
                await asyncio.sleep(min(RETRY_PAUSE_S, remaining))
                await asyncio.wait_for(ready(), max(deadline - loop.time(), 0.001))


async def renew_channel(nacked: AbstractChannel | Channel) -> None:
    """Replace a robust channel whose publish a quorum queue nacked with a new one (closed
    with an error, RobustChannel reopens it, with its consumers): the broker then builds its
    quorum queue client states afresh from the queues' current leaders (see the module's
    docstring). Callers sharing the channel renew it once; their messages in flight are re-sent
    as after any channel loss. Only for channels without unacked deliveries to lose."""
    underlay = nacked if isinstance(nacked, Channel) else await nacked.get_underlay_channel()
    if underlay.is_closed:
        return
    log.info("renewing the publishing channel after a quorum nack")
    # an error (not the default CancelledError), so that RobustChannel restores the channel
    with contextlib.suppress(Exception):
        await underlay.close(ChannelClosed(None, "renewed after a quorum queue's nack"))


def message_properties(single: bool, transient: bool, message_id: str) -> BasicProperties:
    """AMQP properties of one publish: content type, delivery mode (1 transient, 2 persistent)
    and the first event's id as `message_id` (aiormq would draw a random one)."""
    return BasicProperties(
        content_type=SINGLE_CONTENT_TYPE if single else BATCH_CONTENT_TYPE,
        delivery_mode=1 if transient else 2,
        message_id=message_id,
    )


def _take_batch(pending: deque[_Pending], limit: int) -> list[_Pending]:
    """The longest run of same-type events at the head of `pending`, at most `limit`."""
    first = pending.popleft()
    batch = [first]
    while pending and len(batch) < limit and pending[0].event_type == first.event_type:
        batch.append(pending.popleft())
    return batch
