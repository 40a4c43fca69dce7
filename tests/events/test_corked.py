"""The broker connections' writer: what one event-loop turn writes leaves in one send, in order,
and nothing waits behind it (corked.py)."""

import asyncio

import aio_pika
import pytest
from switchboard_events import BrokerSettings
from switchboard_events.broker_connection import connect_any, connect_cluster
from switchboard_events.corked import CorkedTransportFactory, CorkedWriter

pytestmark = pytest.mark.timeout(30)


class Sends(asyncio.WriteTransport):
    """Records each `write` the writer makes (the socket sends it would be)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.sent.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


def _writer() -> tuple[CorkedWriter, Sends]:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport = Sends()
    protocol = asyncio.StreamReaderProtocol(reader)
    protocol.connection_made(transport)
    return CorkedWriter(transport, protocol, reader, loop), transport


async def test_one_turns_writes_leave_in_one_send_at_the_end_of_the_turn() -> None:
    writer, transport = _writer()
    for frame in (b"a", b"bc", b"d"):
        writer.write(frame)
    assert transport.sent == []  # held for the rest of this turn
    await asyncio.sleep(0)
    assert transport.sent == [b"abcd"]
    writer.write(b"e")
    await asyncio.sleep(0)
    assert transport.sent == [b"abcd", b"e"]


async def test_drain_and_close_send_what_is_held_first() -> None:
    writer, transport = _writer()
    writer.write(b"x")
    await writer.drain()
    assert transport.sent == [b"x"]
    writer.write(b"y")
    writer.close()
    assert transport.sent == [b"x", b"y"] and transport.closed
    await asyncio.sleep(0)
    assert transport.sent == [b"x", b"y"]  # the turn's flush finds nothing more


async def test_what_is_held_when_the_connection_goes_is_dropped_quietly() -> None:
    """A turn's writes on a transport that closed meanwhile: dropped as the transport would,
    not raised into the loop's exception handler (aiormq's reader reports the loss)."""
    writer, transport = _writer()
    errors: list[dict[str, object]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, context: errors.append(context))
    writer.write(b"late")
    transport.closed = True
    await asyncio.sleep(0)
    assert transport.sent == [] and errors == []


async def test_every_broker_connection_writes_through_it(broker_settings: BrokerSettings) -> None:
    """Both kinds of connection the services open, used for a confirmed round trip."""
    urls = broker_settings.broker_urls
    for connection in (await connect_any(urls), await connect_cluster(urls)):
        try:
            underlay = connection.transport.connection  # type: ignore[union-attr]
            assert isinstance(underlay._transport_factory, CorkedTransportFactory)
            channel = await connection.channel(publisher_confirms=True)
            queue = await channel.declare_queue("", exclusive=True)
            bodies = [f"m{n}".encode() for n in range(20)]
            await asyncio.gather(
                *(channel.default_exchange.publish(aio_pika.Message(b), queue.name) for b in bodies)
            )
            got = []
            async with queue.iterator() as messages:
                async for message in messages:
                    got.append(message.body)
                    await message.ack()
                    if len(got) == len(bodies):
                        break
            assert sorted(got) == sorted(bodies)
        finally:
            await connection.close()
