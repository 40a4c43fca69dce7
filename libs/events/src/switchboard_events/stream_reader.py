"""Reading one stream shard: every message once, in offset order, across broker losses.

A `StreamReader` owns one connection (to any node of `urls`) and one consumer on the shard's
stream queue. Each delivery carries its offset (`x-stream-offset` header). Batches (ndjson) go
to `on_batch(offset, lines)`, marks to `on_mark(offset, mark_id)`; `last_offset` is the last
offset handed to either. When the consumer is cancelled by the broker (the stream's leader
moved), the channel is closed or the connection is lost, the reader reopens on any node, after
a backoff, from `last_offset + 1`; the broker may start a consumer at the beginning of the chunk
that holds the asked offset, so offsets already handed over (or before an int `start`) are
skipped. Nothing is handed over twice and nothing is skipped.

`on_batch` may be a coroutine function: the reader awaits it before the next message, and acks
(stream credit, bounded by `prefetch`) only what it handled, so a slow consumer slows the
reader, not memory. An `on_batch` that raises makes the reader reopen from that offset (the
batch comes again, after the backoff).

A reader from "next" or "last" knows no offset until its first delivery, and a reopen before
that could only ask for "next" again, missing what was published meanwhile. So, right after it
consumes, such a reader appends a mark of its own (an anchor, handed to `on_mark` like any mark):
once it is read, `last_offset` is known and a reopen resumes exactly.

`read_range` reads a closed range of offsets once, for replay beyond an in-memory ring.
"""

import asyncio
import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from typing import Any, Literal, cast

from aio_pika.abc import AbstractChannel, AbstractConnection
from aiormq.abc import DeliveredMessage
from aiormq.channel import Channel
from pamqp.commands import Basic
from switchboard_protocol import new_id

from .broker_connection import connect_any
from .codec import MARK_CONTENT_TYPE
from .routing import Names

log = logging.getLogger(__name__)

OnBatch = Callable[[int, list[bytes]], Awaitable[None] | None]
"""Called with a batch's offset and its event lines (index = position in the list)."""
OnMark = Callable[[int, str], None]
"""Called with a mark's offset and its id."""
Start = int | Literal["next", "first", "last"]

OFFSET_HEADER = "x-stream-offset"
REOPEN_BASE_S = 0.05
REOPEN_MAX_S = 5.0
RANGE_IDLE_S = 10.0
"""`read_range` gives up (TimeoutError) after this long without a message."""

_LOST = None  # what the inbox holds after the consumer, channel or connection is gone


def delivery_offset(message: DeliveredMessage) -> int:
    """The stream offset of a delivery; ValueError when it has none (not from a stream)."""
    headers = message.header.properties.headers or {}
    offset = headers.get(OFFSET_HEADER)
    if not isinstance(offset, int):
        raise ValueError(f"delivery without an int {OFFSET_HEADER} header: {offset!r}")
    return offset


def is_mark(message: DeliveredMessage) -> bool:
    return message.header.properties.content_type == MARK_CONTENT_TYPE


def _tag(message: DeliveredMessage) -> int:
    return cast(int, cast(Any, message.delivery).delivery_tag)


def _deliver_to(
    inbox: "asyncio.Queue[DeliveredMessage | None]",
) -> Callable[[DeliveredMessage], Coroutine[Any, Any, None]]:
    """The consumer callback: deliveries go to `inbox` in the order they arrive."""

    async def deliver(message: DeliveredMessage) -> None:
        inbox.put_nowait(message)

    return deliver


class StreamReader:
    """Reads shard `shard` from `start` on: see the module's docstring."""

    def __init__(
        self,
        urls: Sequence[str],
        names: Names,
        shard: int,
        on_batch: OnBatch,
        start: Start,
        prefetch: int = 256,
        on_mark: OnMark | None = None,
    ) -> None:
        self._urls = list(urls)
        self.stream = names.stream(shard)
        self.shard = shard
        self._on_batch = on_batch
        self._on_mark = on_mark
        self._start = start
        self._prefetch = prefetch
        self.last_offset: int | None = None
        """The last offset handed to `on_batch` / `on_mark` (None: nothing yet)."""
        self.reopens = 0
        """How many times the reader reopened after a loss (for metrics and tests)."""
        self.connection: AbstractConnection | None = None
        """The current connection (None between two)."""
        self.channel: AbstractChannel | None = None
        """The current channel, that of the consumer (None between two)."""
        self._task: asyncio.Task[None] | None = None
        self._consuming: asyncio.Future[None] | None = None
        self._inbox: asyncio.Queue[DeliveredMessage | None] | None = None

    async def start(self) -> None:
        """Start reading; returns once the first consumer is in place (basic.consume-ok).
        Broker failures meanwhile are retried (bound the wait with a timeout if needed)."""
        if self._task is not None:
            raise RuntimeError("StreamReader already started")
        self._consuming = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._run(), name=f"stream-reader-{self.stream}")
        await asyncio.wait({self._consuming, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if not self._consuming.done():
            self._task.result()  # the task ended without consuming: its error
            raise RuntimeError(f"{self.stream}: reader stopped before consuming")

    async def close(self) -> None:
        """Stop reading and close the connection (what is being handled finishes first only
        if it is not awaiting)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait({task})  # a cancel of close() itself still propagates
        await self._drop_connection()

    def _resume_at(self) -> Start:
        """Where the next consumer starts: after the last offset handed over, else `start`."""
        return self._start if self.last_offset is None else self.last_offset + 1

    async def _run(self) -> None:
        """Read, and reopen after every loss, until cancelled; the connection is closed on the
        way out whatever ends the task."""
        pause = REOPEN_BASE_S
        try:
            while True:
                try:
                    if await self._read_once():
                        pause = REOPEN_BASE_S
                except Exception as exc:  # noqa: BLE001 - every loss reopens
                    log.warning(
                        "%s: reader lost (%r); reopening at %s", self.stream, exc, self._resume_at()
                    )
                await self._drop_connection()
                self.reopens += 1
                await asyncio.sleep(pause)
                pause = min(pause * 2, REOPEN_MAX_S)
        finally:
            await self._drop_connection()

    async def _read_once(self) -> bool:
        """One connection's life: consume, handle deliveries until the consumer, channel or
        connection is lost. Whether it got to consume (a loss after that resets the backoff)."""
        connection = self.connection = await connect_any(self._urls, f"stream-reader-{self.stream}")
        inbox: asyncio.Queue[DeliveredMessage | None] = asyncio.Queue()
        self._inbox = inbox
        connection.close_callbacks.add(lambda *_: inbox.put_nowait(_LOST))
        channel = self.channel = await connection.channel(publisher_confirms=False)
        channel.close_callbacks.add(lambda *_: inbox.put_nowait(_LOST))
        await channel.set_qos(prefetch_count=self._prefetch)
        raw = cast(Channel, await channel.get_underlay_channel())
        raw.on_consumer_cancel_callbacks.add(lambda *_: inbox.put_nowait(_LOST))
        at = self._resume_at()
        await raw.basic_consume(self.stream, _deliver_to(inbox), arguments={OFFSET_HEADER: at})
        log.info("%s: reading from %s", self.stream, at)
        if self._consuming is not None and not self._consuming.done():
            self._consuming.set_result(None)
        if self.last_offset is None and at in ("next", "last"):
            await self._anchor(raw)
        await self._handle_until_lost(raw, inbox)
        return True

    async def _anchor(self, raw: Channel) -> None:
        """Append a mark to the stream (see the module's docstring); no confirm: a lost one is
        sent again by the reopen."""
        mark_id = new_id()
        properties = Basic.Properties(
            content_type=MARK_CONTENT_TYPE, delivery_mode=2, message_id=mark_id
        )
        await raw.basic_publish(
            mark_id.encode(), exchange="", routing_key=self.stream, properties=properties
        )

    async def _handle_until_lost(
        self, raw: Channel, inbox: asyncio.Queue[DeliveredMessage | None]
    ) -> None:
        """Hand over deliveries in order; ack them (several at once when the inbox is empty
        or half the prefetch is unacked). Returns at the first loss sentinel."""
        unacked = 0
        while True:
            message = await inbox.get()
            if message is _LOST:
                return
            await self._handle(message)
            unacked += 1
            if inbox.empty() or unacked * 2 >= self._prefetch:
                if raw.is_closed:
                    return
                await raw.basic_ack(_tag(message), multiple=True)
                unacked = 0

    async def _handle(self, message: DeliveredMessage) -> None:
        offset = delivery_offset(message)
        if self.last_offset is not None and offset <= self.last_offset:
            return  # handed over before a reopen (the broker starts at a chunk's beginning)
        if self.last_offset is None and isinstance(self._start, int) and offset < self._start:
            return
        if is_mark(message):
            self.last_offset = offset
            if self._on_mark is not None:
                self._on_mark(offset, message.body.decode(errors="replace"))
            return
        result = self._on_batch(offset, message.body.split(b"\n"))
        if inspect.isawaitable(result):
            await result
        self.last_offset = offset

    async def _drop_connection(self) -> None:
        self.channel = None
        connection, self.connection = self.connection, None
        if connection is not None and not connection.is_closed:
            with contextlib.suppress(Exception):
                await connection.close()


async def read_range(
    source: Sequence[str] | AbstractConnection,
    names: Names,
    shard: int,
    first: int,
    last: int,
    prefetch: int = 256,
    idle_s: float = RANGE_IDLE_S,
) -> AsyncIterator[tuple[int, list[bytes]]]:
    """The batches of shard `shard` with offsets in [first, last], in order (marks skipped);
    ends after the message at offset >= `last`. `source`: broker URLs (a connection of its own)
    or a connection to open a channel on. When retention dropped `first` already, the first
    offset yielded is greater (the caller checks). TimeoutError after `idle_s` without a
    message (the stream does not reach `last`)."""
    if first > last:
        return
    own = not isinstance(source, AbstractConnection)
    connection = (
        await connect_any(list(cast(Sequence[str], source)), f"stream-range-{shard}")
        if own
        else cast(AbstractConnection, source)
    )
    channel: AbstractChannel | None = None
    try:
        channel = await connection.channel(publisher_confirms=False)
        await channel.set_qos(prefetch_count=prefetch)
        raw = cast(Channel, await channel.get_underlay_channel())
        inbox: asyncio.Queue[DeliveredMessage | None] = asyncio.Queue()
        channel.close_callbacks.add(lambda *_: inbox.put_nowait(_LOST))
        raw.on_consumer_cancel_callbacks.add(lambda *_: inbox.put_nowait(_LOST))
        await raw.basic_consume(
            names.stream(shard), _deliver_to(inbox), arguments={OFFSET_HEADER: first}
        )
        async for item in _range_items(raw, inbox, first, last, idle_s, prefetch):
            yield item
    finally:
        if channel is not None and not channel.is_closed:
            with contextlib.suppress(Exception):
                await channel.close()
        if own:
            with contextlib.suppress(Exception):
                await connection.close()


async def _range_items(
    raw: Channel,
    inbox: "asyncio.Queue[DeliveredMessage | None]",
    first: int,
    last: int,
    idle_s: float,
    prefetch: int,
) -> AsyncIterator[tuple[int, list[bytes]]]:
    """Hand over the deliveries in [first, last]; ack several at once (when the inbox is empty
    or half the prefetch is unacked), and time out only while waiting on an empty inbox."""
    unacked = 0
    while True:
        if inbox.empty():
            message = await asyncio.wait_for(inbox.get(), idle_s)
        else:
            message = inbox.get_nowait()
        if message is _LOST:
            raise ConnectionError(f"stream {first}..{last}: consumer lost during the read")
        offset = delivery_offset(message)
        unacked += 1
        if inbox.empty() or unacked * 2 >= prefetch:
            await raw.basic_ack(_tag(message), multiple=True)
            unacked = 0
        if offset >= first and offset <= last and not is_mark(message):
            yield offset, message.body.split(b"\n")
        if offset >= last:
            return
