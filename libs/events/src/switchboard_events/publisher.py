"""Publishing events with confirms, batched per stream shard.

A session's events all go to its shard's stream (`shard_of`). Each shard has a lane with at most
one batch message in flight, which keeps a shard's (so each session's) events in order across
reconnects; lanes of different shards run in parallel. Batching is adaptive (Nagle-like): an
event that finds its lane idle goes out at once, and events accumulate only while the lane's
previous batch is unconfirmed; then they go out together as one message of up to
`coalesce_max_events` events (any sessions, any types, in enqueue order). A slow or busy broker
(longer confirms) thus makes bigger batches and an idle one adds no latency.
`coalesce_window_ms` > 0 adds a linger: a lane then waits up to that long for more events before
each send (unless `coalesce_max_events` are pending), trading latency for fewer, larger
messages; the default 0 never lingers.

A batch message is the ndjson of its events (`encode_batch`, content type
`application/x-ndjson`), persistent, published on the default exchange with the stream's name
as routing key. A mark (`mark`) is a message that carries no event: readers skip it, it only
tells whoever published it where the stream's end was.

Every event's future resolves when the broker confirms its message, or fails with
`PublishFailed`: nothing is dropped silently. A message whose channel or connection is lost
before its confirm (a broker node going away) is sent again once the robust channel is back,
for up to `publish_retry_s`: its events may then reach the stream twice, and readers drop the
copy by event id. A nack (a stream without a leader for a moment), or a confirm that does not
come within `CONFIRM_TIMEOUT_S`, is retried the same way, on a new channel (see
`renew_channel`). Publishes are mandatory: one the broker returns (no such
stream: topology not declared, or STREAM_SHARDS differing between processes) is retried too,
then fails with PublishFailed instead of vanishing.
"""

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import aio_pika
from aio_pika.abc import AbstractChannel
from aiormq.abc import DeliveredMessage
from aiormq.channel import Channel
from aiormq.exceptions import ChannelClosed
from pamqp.commands import Basic
from switchboard_protocol import Event, new_id

from .codec import BATCH_CONTENT_TYPE, MARK_CONTENT_TYPE, encode, encode_batch, event_head
from .routing import Names, shard_of
from .settings import BrokerSettings

log = logging.getLogger(__name__)
CONFIRM_TIMEOUT_S = 5.0
"""How long a confirm may take before the message counts as lost: RabbitMQ 3.10 may never
confirm (nor nack) a message sent to a stream whose leader node died meanwhile (seen in the
cluster suite: a run stalled for good). The channel is renewed, as after a nack, and the
message sent again; its events may reach the stream twice, and readers drop the copy."""
RETRY_PAUSE_S = 0.1
"""Pause before re-sending a message whose connection was lost (the loss is noticed first)."""
WITHDRAWN_KEPT = 1024
"""How many withdrawn runs are remembered (their events still waiting to be re-sent drop)."""

BasicProperties = Basic.Properties
_Body = Callable[[], tuple[bytes, BasicProperties] | None]


class PublishFailed(RuntimeError):
    """The broker did not confirm a message (nack, channel or connection loss)."""


@dataclass(slots=True)
class _Pending:
    body: bytes
    event_id: str
    future: asyncio.Future[None]
    session_id: str
    run_id: str | None = None


@dataclass
class _Lane:
    pending: deque[_Pending] = field(default_factory=deque)
    task: asyncio.Task[None] | None = None
    more: asyncio.Event = field(default_factory=asyncio.Event)


class Publisher:
    """Publishes events onto the stream shards; `enqueue` to stream, `publish` to wait."""

    def __init__(self, channel: AbstractChannel, names: Names, settings: BrokerSettings) -> None:
        self._channel = channel
        self._names = names
        self._shards = settings.stream_shards
        self._max = settings.coalesce_max_events
        self._linger = settings.coalesce_window_ms / 1000
        self._retry_s = settings.publish_retry_s
        self._lanes: dict[int, _Lane] = {}
        self._withdrawn: dict[str, None] = {}
        """Runs withdrawn lately (insertion-ordered, the last WITHDRAWN_KEPT): their events in a
        message still waiting to be sent again after a lost connection are dropped instead."""
        self.messages_sent = 0
        self.events_sent = 0

    async def start(self) -> "Publisher":
        """Nothing to look up (the default exchange routes to the streams); kept so callers
        start every publisher the same way."""
        return self

    def shard(self, session_id: str) -> int:
        """The shard of `session_id` under this publisher's STREAM_SHARDS."""
        return shard_of(session_id, self._shards)

    def enqueue(self, event: Event) -> asyncio.Future[None]:
        """Queue an event; the future resolves once the broker confirmed it."""
        return self._enqueue(event.session_id, encode(event), event.id, event.run_id)

    def enqueue_encoded(self, body: bytes) -> asyncio.Future[None]:
        """Queue an event already encoded (a stored one, perhaps with fields this version
        does not know): its bytes go out as they are, routed and sent like `enqueue`'s."""
        head = event_head(body)
        return self._enqueue(head.session_id, body, head.id, head.run_id)

    async def publish(self, event: Event) -> None:
        """Publish one event and wait for the broker's confirm (raises PublishFailed)."""
        await self.enqueue(event)

    async def mark(self, shard: int, mark_id: str | None = None) -> str:
        """Append a mark (no event) to stream `shard` and wait for its confirm; its id (`mark_id`,
        else a new one), which a reader's `on_mark` sees with the mark's offset (the stream's end
        at this call). Pass the id when a reader may see the mark before the confirm comes."""
        mark_id = mark_id or new_id()
        properties = BasicProperties(
            content_type=MARK_CONTENT_TYPE, delivery_mode=2, message_id=mark_id
        )
        await self._publish_retrying(mark_id.encode(), self._names.stream(shard), properties)
        return mark_id

    def _enqueue(
        self, session_id: str, body: bytes, event_id: str, run_id: str | None
    ) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        shard = self.shard(session_id)
        lane = self._lanes.get(shard)
        if lane is None:
            lane = self._lanes[shard] = _Lane()
        lane.pending.append(_Pending(body, event_id, future, session_id, run_id))
        if lane.task is None:  # nothing in flight: the lane starts sending at once
            lane.task = asyncio.create_task(self._run_lane(shard, lane))
        elif len(lane.pending) >= self._max:
            lane.more.set()
        return future

    def withdraw(self, session_id: str, run_id: str) -> int:
        """Drop the run's events not yet sent (their futures fail with PublishFailed); how many.
        A message already handed to the broker is not recalled."""
        self._withdrawn[run_id] = None
        while len(self._withdrawn) > WITHDRAWN_KEPT:
            del self._withdrawn[next(iter(self._withdrawn))]
        lane = self._lanes.get(self.shard(session_id))
        if lane is None:
            return 0
        dropped = [p for p in lane.pending if p.run_id == run_id]
        lane.pending = deque(p for p in lane.pending if p.run_id != run_id)
        _fail(dropped, PublishFailed(f"run {run_id} withdrawn"))
        return len(dropped)

    async def flush(self) -> None:
        """Wait until every queued event is confirmed or failed."""
        tasks = [lane.task for lane in self._lanes.values() if lane.task is not None]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _run_lane(self, shard: int, lane: _Lane) -> None:
        """Send what is pending, one batch at a time; what arrives during a confirm forms the
        next batch."""
        try:
            while lane.pending:
                if self._linger and len(lane.pending) < self._max:
                    await self._wait_for_more(lane)
                batch = [lane.pending.popleft() for _ in range(min(self._max, len(lane.pending)))]
                await self._send(shard, batch)
                await asyncio.sleep(0)  # producers woken by the confirm add to the next batch
        finally:
            lane.task = None
            if lane.pending:
                lane.task = asyncio.create_task(self._run_lane(shard, lane))
            else:
                self._lanes.pop(shard, None)

    async def _wait_for_more(self, lane: _Lane) -> None:
        lane.more.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(lane.more.wait(), self._linger)

    async def _send(self, shard: int, batch: list[_Pending]) -> None:
        """One batch message for `batch`, straight onto the channel (aiormq): no aio-pika
        Message object. After a lost connection, events of runs withdrawn meanwhile are
        dropped from the batch before it is sent again."""
        stream = self._names.stream(shard)
        attempt = batch

        def body() -> tuple[bytes, BasicProperties] | None:
            nonlocal attempt
            withdrawn = [p for p in attempt if p.run_id is not None and p.run_id in self._withdrawn]
            if withdrawn:
                _fail(withdrawn, PublishFailed("run withdrawn"))
                attempt = [p for p in attempt if p.run_id not in self._withdrawn]
            if not attempt:
                return None
            encoded = encode_batch([p.body for p in attempt])
            return encoded, batch_properties(attempt[0].event_id)

        try:
            sent = await self._publish_retrying(body, stream)
        except Exception as exc:  # noqa: BLE001 - every failure must reach the callers
            log.warning("publish to %s failed: %r", stream, exc)
            _fail(attempt, PublishFailed(f"{stream}: {exc!r}"))
            return
        if not sent:
            return
        self.messages_sent += 1
        self.events_sent += len(attempt)
        for item in attempt:
            if not item.future.done():
                item.future.set_result(None)

    async def _publish_retrying(
        self,
        message: bytes | _Body,
        key: str,
        properties: BasicProperties | None = None,
    ) -> bool:
        """Publish and wait for the confirm; after a lost channel or connection (or a nack: a
        stream without a leader for a moment), wait for the robust channel to be restored and
        send again, until `publish_retry_s` has passed. `message` is bytes with `properties`,
        or a function giving both per attempt (None: nothing left to send). Whether it sent."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._retry_s
        while True:
            attempt = (message, properties) if isinstance(message, bytes) else message()
            if attempt is None:
                return False
            body, props = attempt
            assert props is not None
            channel: Channel | None = None
            try:
                # the concrete aiormq channel (its abstract type lacks `wait`); mandatory: a
                # stream that does not exist (STREAM_SHARDS differing between processes, no
                # topology) returns the message instead of dropping it silently
                channel = cast(Channel, await self._channel.get_underlay_channel())
                confirmed = await channel.basic_publish(
                    body, exchange="", routing_key=key, properties=props, mandatory=True,
                    wait=False, timeout=CONFIRM_TIMEOUT_S,
                )  # fmt: skip
            except (aio_pika.exceptions.DeliveryError, TimeoutError) as exc:
                await self._after_nack(key, exc, channel, deadline)
                continue
            except Exception as exc:  # noqa: BLE001 - a loss: wait for the channel, or raise
                await self._after_loss(key, exc, deadline)
                continue
            if not isinstance(confirmed, DeliveredMessage):
                return True
            # returned: no such stream now (not declared, or unavailable for a moment on a
            # cluster): sent again like a nack, then failed
            if loop.time() >= deadline:
                raise PublishFailed(f"{key}: unroutable (is the stream declared?)")
            log.info("publish to %s returned unroutable; retrying", key)
            await asyncio.sleep(RETRY_PAUSE_S)

    async def _after_nack(
        self, key: str, exc: Exception, channel: Channel | None, deadline: float
    ) -> None:
        """Renew the channel after a nack, or a confirm that did not come in time, and wait for
        it (re-raises past the deadline)."""
        loop = asyncio.get_running_loop()
        ready = getattr(self._channel, "ready", None)  # robust channels only
        if ready is None or loop.time() >= deadline:
            raise exc
        what = "not confirmed in time" if isinstance(exc, TimeoutError) else f"nacked ({exc!r})"
        log.warning("publish to %s %s; retrying on a new channel", key, what)
        if channel is not None:
            await renew_channel(channel)
        await asyncio.sleep(RETRY_PAUSE_S)
        await asyncio.wait_for(ready(), max(deadline - loop.time(), 0.001))

    async def _after_loss(self, key: str, exc: Exception, deadline: float) -> None:
        """Wait for the robust channel to come back (re-raises past the deadline, on a plain
        channel, or on one its owner closed: aio-pika never restores those)."""
        loop = asyncio.get_running_loop()
        remaining = deadline - loop.time()
        ready = getattr(self._channel, "ready", None)  # robust channels only
        if ready is None or remaining <= 0 or getattr(self._channel, "_close_called", False):
            raise exc
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
    log.info("renewing the publishing channel")
    # an error (not the default CancelledError), so that RobustChannel restores the channel
    with contextlib.suppress(Exception):
        await underlay.close(ChannelClosed(None, "renewed after a quorum queue's nack"))


def batch_properties(message_id: str) -> BasicProperties:
    """AMQP properties of a batch: ndjson, persistent, the first event's id as `message_id`
    (aiormq would draw a random one)."""
    return BasicProperties(content_type=BATCH_CONTENT_TYPE, delivery_mode=2, message_id=message_id)


def _fail(items: list[_Pending], error: PublishFailed) -> None:
    """Fail the futures of `items` not done yet (retrieved: a withdrawn run's events may have
    no one waiting on them)."""
    for item in items:
        if not item.future.done():
            item.future.set_exception(error)
            item.future.exception()
