"""The gateway's own broker link: releases on `ai.control`, catch-up requests, and the
publisher of `typing` events and stream marks.

Every gateway listens on an exclusive auto-delete queue bound to `release.#`. Every connect
publishes `release.<session>.<client>` with body `{"session_id", "client_id", "requester"}`;
every gateway closes its older connections of that device (see live.LiveSockets.release).
The same queue hears `presence.*` (beats, queries, and the answers to this replica's queries
come to it too: presence.py).

The same queue takes the answers to catch-up requests: `catch_up` puts `{"session_id"}` on the
run-progress queue (reply_to this queue, a correlation id) and the session service answers with
the session's `active_run` and the stream `position` it covers (see switchboard_session).

Requests, releases and typing go out on a channel of their own, without consumers, so that a
quorum queue's nack can renew it (`renew_channel`: RabbitMQ 3.10 keeps a channel's stale view
of a quorum queue's leader after that node died, and nacks every publish on it) without
touching the reply queue's consumer.
"""

import asyncio
import itertools
import json
import logging
import uuid
from collections.abc import Callable

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractRobustConnection,
)
from aio_pika.exceptions import DeliveryError
from switchboard_events import Names, Publisher, renew_channel
from switchboard_events.broker_connection import connect_cluster
from switchboard_events.routing import CATCHUP_REQUEST
from switchboard_protocol import CatchUpReply, CatchUpRequest, Event, Release, dumps

from .settings import GatewaySettings

log = logging.getLogger(__name__)

RETRY_PAUSE_S = 0.1
PRESENCE = "presence"
"""`ai.control` keys `presence.<kind>` (presence.py)."""
PRESENCE_TTL_S = 5
"""Presence messages are worth nothing later (a beat comes every few seconds)."""
ReleaseHandler = Callable[[str, str, str], None]
"""Called with (session id, client id, requester connection id)."""
PresenceHandler = Callable[[AbstractIncomingMessage], None]
"""Takes `presence.*` messages and the answers to this replica's presence queries."""


class Control:
    def __init__(
        self,
        settings: GatewaySettings,
        names: Names,
        on_release: ReleaseHandler,
        on_presence: PresenceHandler = lambda message: None,
    ) -> None:
        self._settings = settings
        self._names = names
        self._on_release = on_release
        self._on_presence = on_presence
        self._exchange: AbstractExchange | None = None
        self._publisher: Publisher | None = None
        self._channel: AbstractChannel | None = None
        self._out: AbstractChannel | None = None
        self._connection: AbstractRobustConnection | None = None
        self._reply_to = ""
        self._waiting: dict[str, asyncio.Future[CatchUpReply]] = {}
        self._ids = itertools.count()

    async def start(self) -> None:
        self._connection = await connect_cluster(
            self._settings.broker_urls, "switchboard-gateway-control"
        )
        channel = await self._connection.channel(publisher_confirms=True)
        self._channel = channel
        self._out = await self._connection.channel(publisher_confirms=True)
        self._exchange = await self._out.get_exchange(self._names.control_exchange)
        # a fixed name: the robust connection redeclares the same queue after a reconnect, so
        # catch-up answers keep finding it
        name = self._names.gateway_queue(uuid.uuid4().hex)
        queue = await channel.declare_queue(name, exclusive=True, auto_delete=True)
        await queue.bind(self._names.control_exchange, Names.binding(Names.RELEASE))
        await queue.bind(self._names.control_exchange, Names.binding(PRESENCE))
        await queue.consume(self._handle, no_ack=True)
        self._reply_to = queue.name
        self._publisher = await Publisher(self._out, self._names, self._settings).start()

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()

    @property
    def healthy(self) -> bool:
        return self._channel is not None and not self._channel.is_closed

    async def request_release(self, session_id: str, client_id: str, requester: str) -> None:
        """Tell every gateway that connection `requester` is now the device's one."""
        assert self._exchange is not None, "control link not started"
        release = Release(session_id=session_id, client_id=client_id, requester=requester)
        key = self._names.release_key(session_id, client_id)
        message = aio_pika.Message(dumps(release).encode(), content_type="application/json")
        await self._exchange.publish(message, key)

    async def announce(self, key: str, body: dict[str, object], correlation: str | None) -> None:
        """Publish `body` on `ai.control` with this replica's queue as reply_to (presence)."""
        assert self._exchange is not None, "control link not started"
        message = aio_pika.Message(
            json.dumps(body).encode(),
            content_type="application/json",
            reply_to=self._reply_to,
            correlation_id=correlation,
            expiration=PRESENCE_TTL_S,
        )
        await self._exchange.publish(message, key)

    async def reply(self, to: str, correlation: str, body: dict[str, object]) -> None:
        """Answer another replica's request on its own queue."""
        assert self._out is not None, "control link not started"
        message = aio_pika.Message(
            json.dumps(body).encode(),
            content_type="application/json",
            correlation_id=correlation,
            expiration=PRESENCE_TTL_S,
        )
        await self._out.default_exchange.publish(message, to)

    async def mark(self, shard: int) -> str:
        """Publish a mark on the shard's stream (feed.py); its id."""
        assert self._publisher is not None, "control link not started"
        return await self._publisher.mark(shard)

    async def publish_event(self, event: Event) -> None:
        assert self._publisher is not None, "control link not started"
        await self._publisher.publish(event)

    async def catch_up(self, session_id: str, timeout: float) -> CatchUpReply:
        """The session's `active_run` (or None) and the last offset of its shard it covers;
        TimeoutError when the session service does not answer in time."""
        assert self._channel is not None, "control link not started"
        correlation = f"c{next(self._ids)}"
        answer = asyncio.get_running_loop().create_future()
        self._waiting[correlation] = answer
        request = aio_pika.Message(
            dumps(CatchUpRequest(session_id=session_id)).encode(),
            content_type="application/json",
            type=CATCHUP_REQUEST,
            reply_to=self._reply_to,
            correlation_id=correlation,
            expiration=timeout,
        )
        try:
            async with asyncio.timeout(timeout):
                await self._request(request)
                return await answer
        finally:
            self._waiting.pop(correlation, None)

    async def _request(self, request: aio_pika.Message) -> None:
        """Put `request` on the run-progress queue; a quorum nack renews the channel and sends
        it again (until the caller's timeout). A classic queue's nack is final (DeliveryError)."""
        assert self._out is not None
        while True:
            try:
                await self._out.default_exchange.publish(request, self._names.progress_queue)
                return
            except DeliveryError:
                if self._settings.queue_type != "quorum":
                    raise  # the broker refused it; sending it again would not change its mind
                log.info("catch-up request nacked; renewing the channel")
                await renew_channel(self._out)
                await asyncio.sleep(RETRY_PAUSE_S)
                ready = getattr(self._out, "ready", None)  # robust channels
                if ready is not None:
                    await ready()

    async def _handle(self, message: AbstractIncomingMessage) -> None:
        key, correlation = message.routing_key or "", message.correlation_id or ""
        if key.startswith(f"{PRESENCE}.") or correlation.startswith("p"):
            self._on_presence(message)
            return
        if message.correlation_id is not None:
            self._answered(message)
            return
        try:
            release = Release.read_json(message.body)
        except ValueError:
            log.warning("ignoring malformed release %r", message.body[:200])
            return
        self._on_release(release.session_id, release.client_id, release.requester)

    def _answered(self, message: AbstractIncomingMessage) -> None:
        waiter = self._waiting.get(message.correlation_id or "")
        if waiter is None or waiter.done():
            return
        try:
            waiter.set_result(CatchUpReply.read_json(message.body))
        except ValueError as exc:
            waiter.set_exception(exc)
