"""The gateway's control link (control.py) with a broker stand-in: a catch-up request that a
quorum queue nacked renews the publishing channel and goes out again (RabbitMQ 3.10 keeps a
channel's dead leader: tests/cluster covers it on a real cluster); a classic queue's nack is
final."""

from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any, Literal

import aio_pika
import pytest
from aiormq.exceptions import DeliveryError
from pamqp.commands import Basic
from switchboard_events import Names
from switchboard_gateway import control
from switchboard_gateway.settings import GatewaySettings
from switchboard_protocol import CatchUpReply, dumps

pytestmark = pytest.mark.timeout(10)
NAMES = Names()


class Underlay:
    """The aiormq channel under the publishing channel: closing it is the renewal."""

    def __init__(self) -> None:
        self.is_closed = False
        self.closed_with: list[BaseException] = []

    async def close(self, exc: BaseException) -> None:
        self.closed_with.append(exc)


class Exchange:
    def __init__(self, channel: "Channel", name: str) -> None:
        self.channel = channel
        self.name = name

    async def publish(self, message: aio_pika.Message, routing_key: str) -> None:
        await self.channel.published(self.name, message, routing_key)


class Queue:
    def __init__(self, name: str) -> None:
        self.name = name
        self.handler: Any = None

    async def bind(self, exchange: str, key: str) -> None:
        pass

    async def consume(self, handler: Any, no_ack: bool) -> None:
        self.handler = handler


class Channel:
    """A robust channel stand-in: the first `nacks` publishes are nacked, the others handed to
    `on_sent`; a renewal (its underlay closed) gives it a new underlay once `ready()` is
    awaited."""

    def __init__(self, nacks: int = 0) -> None:
        self.nacks = nacks
        self.sent: list[tuple[str, aio_pika.Message, str]] = []
        self.underlays = [Underlay()]
        self.default_exchange = Exchange(self, "")
        self.queue: Queue | None = None
        self.is_closed = False
        self.on_sent: Callable[[aio_pika.Message], Awaitable[None]] | None = None

    async def published(self, exchange: str, message: aio_pika.Message, key: str) -> None:
        self.sent.append((exchange, message, key))
        if self.nacks:
            self.nacks -= 1
            raise DeliveryError(None, Basic.Nack(delivery_tag=len(self.sent)))
        if self.on_sent is not None:
            await self.on_sent(message)

    async def get_exchange(self, name: str) -> Exchange:
        return Exchange(self, name)

    async def get_underlay_channel(self) -> Underlay:
        return self.underlays[-1]

    async def ready(self) -> None:
        if self.underlays[-1].closed_with:
            self.underlays.append(Underlay())  # RobustChannel reopened it

    async def declare_queue(self, name: str, **_: Any) -> Queue:
        self.queue = Queue(name)
        return self.queue


class Connection:
    """The control link's connection: its reply channel, then its publishing channel, whose
    confirmed catch-up requests the session service answers (no active run)."""

    def __init__(self, out_nacks: int) -> None:
        self.replies = Channel()
        self.out = Channel(nacks=out_nacks)
        self.out.on_sent = self.answer
        self._channels = iter([self.replies, self.out])

    async def channel(self, publisher_confirms: bool = True) -> Channel:
        return next(self._channels)

    async def answer(self, request: aio_pika.Message) -> None:
        body = dumps(CatchUpReply(active_run=None)).encode()
        assert self.replies.queue is not None
        reply = SimpleNamespace(  # what the reply queue's consumer gets
            body=body, correlation_id=request.correlation_id, routing_key=self.replies.queue.name
        )
        await self.replies.queue.handler(reply)


async def started(
    monkeypatch: pytest.MonkeyPatch, queue_type: Literal["classic", "quorum"], nacks: int
) -> tuple[control.Control, Connection]:
    """A started control link on a stand-in connection whose first `nacks` publishes of the
    publishing channel are nacked."""
    conn = Connection(out_nacks=nacks)

    async def connect_cluster(urls: Any, name: str) -> Connection:
        return conn

    monkeypatch.setattr(control, "connect_cluster", connect_cluster)
    settings = GatewaySettings(QUEUE_TYPE=queue_type)
    link = control.Control(settings, NAMES, lambda session_id, client_id, requester: None)
    await link.start()
    return link, conn


async def test_a_quorum_nack_renews_the_channel_and_sends_the_request_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    link, conn = await started(monkeypatch, "quorum", nacks=1)
    assert (await link.catch_up("s1", timeout=5)).active_run is None
    assert [(exchange, key) for exchange, _, key in conn.out.sent] == [
        ("", NAMES.progress_queue),
        ("", NAMES.progress_queue),
    ]
    first, again = (message for _, message, _ in conn.out.sent)
    assert again.body == first.body and again.correlation_id == first.correlation_id
    assert len(conn.out.underlays[0].closed_with) == 1, "the nacked channel was not renewed"
    assert len(conn.out.underlays) == 2
    assert conn.replies.underlays[0].closed_with == [], "the reply consumer's channel was touched"


async def test_a_classic_nack_is_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    link, conn = await started(monkeypatch, "classic", nacks=1)
    with pytest.raises(DeliveryError):
        await link.catch_up("s1", timeout=5)
    assert len(conn.out.sent) == 1
    assert conn.out.underlays[0].closed_with == []
