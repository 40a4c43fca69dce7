"""The gateway's own broker link: release requests on `ai.control` and the typing publisher.

Every gateway listens on an exclusive auto-delete queue bound to `release.#`. A newcomer whose
exclusive consume is refused publishes `release.<device queue>` with body
`{"queue", "requester"}`; whoever holds that queue lets go (see hub.Hub.release).
"""

import json
import logging
from collections.abc import Callable

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractRobustConnection,
)
from switchboard_events import Event, Names, Publisher

from .settings import GatewaySettings

log = logging.getLogger(__name__)

ReleaseHandler = Callable[[str, str], None]
"""Called with (queue name, requester id)."""


class Control:
    def __init__(self, settings: GatewaySettings, names: Names, on_release: ReleaseHandler) -> None:
        self._settings = settings
        self._names = names
        self._on_release = on_release
        self._exchange: AbstractExchange | None = None
        self._publisher: Publisher | None = None
        self._channel: AbstractChannel | None = None
        self._connection: AbstractRobustConnection | None = None

    async def start(self) -> None:
        self._connection = await aio_pika.connect_robust(
            self._settings.amqp_url,
            client_properties={"connection_name": "switchboard-gateway-control"},
        )
        channel = await self._connection.channel(publisher_confirms=True)
        self._channel = channel
        self._exchange = await channel.get_exchange(self._names.control_exchange)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(self._exchange, "release.#")
        await queue.consume(self._handle, no_ack=True)
        self._publisher = await Publisher(channel, self._names, self._settings).start()

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()

    @property
    def healthy(self) -> bool:
        return self._channel is not None and not self._channel.is_closed

    async def request_release(self, queue: str, requester: str) -> None:
        assert self._exchange is not None, "control link not started"
        body = json.dumps({"queue": queue, "requester": requester}).encode()
        await self._exchange.publish(
            aio_pika.Message(body, content_type="application/json"), self._names.control_key(queue)
        )

    async def publish_event(self, event: Event) -> None:
        assert self._publisher is not None, "control link not started"
        await self._publisher.publish(event)

    async def _handle(self, message: AbstractIncomingMessage) -> None:
        try:
            body = json.loads(message.body)
            queue, requester = str(body["queue"]), str(body["requester"])
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring malformed release %r", message.body[:200])
            return
        self._on_release(queue, requester)
