"""A device's release keeps its events in order on quorum queues (QUEUE_TYPE=quorum).

A quorum device queue is single-active-consumer; RabbitMQ 3.10 starts the next waiting
consumer the moment the active one is cancelled, while the cancelled one still holds its
unacked deliveries, and gives those back only when they are nacked: the next consumer then got
the queue's later events first (the cluster suite saw a completed run's `seq` go back after a
device moved gateways). The gateway's release must hand everything back in one broker step.

Here a second consumer waits on a device queue while the gateway holds a full prefetch of
unacked events and more wait behind them (a consumer that started on a stale consumer count,
as a broker answers while a quorum queue elects a leader); the device then drops, and the
waiting consumer must get every event, in publish order.
"""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import pytest
from switchboard_events import Publisher, broker_connection, make_event, names_from
from switchboard_gateway.settings import GatewaySettings
from switchboard_protocol import new_id
from switchboard_stack import Stack

from tests.infra import isolated_broker, migrated_database
from tests.reliability.device import Device
from tests.reliability.helpers import create_session, token
from tests.stack import running_stack, stack_installed

pytestmark = [pytest.mark.e2e, pytest.mark.broker, pytest.mark.db, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
async def quorum_stack(postgres_admin_url: str, amqp_url: str) -> AsyncIterator[Stack]:
    if not stack_installed():
        pytest.skip("services not installed")
    async with (
        migrated_database(postgres_admin_url, "sb_qrelease") as database_url,
        isolated_broker(amqp_url, "q", queue_type="quorum") as broker,
        running_stack(database_url, broker) as running,
    ):
        yield running


async def test_a_released_device_hands_its_events_back_in_order(quorum_stack: Stack) -> None:
    stack = quorum_stack
    assert stack.broker is not None
    shipped = GatewaySettings.model_fields
    # what an ack=client consumer holds at the shipped defaults
    prefetch = max(int(shipped["prefetch"].default), int(shipped["ack_window"].default))
    total = 2 * prefetch  # the gateway holds a full prefetch, as many wait behind it
    tok = token()
    sid = (await create_session(stack.url, tok))["id"]
    phone = Device(sid, "phone", tok)
    await phone.connect(stack.url)  # ack=client, and it never acks here
    queue_name = names_from(stack.broker).device_queue(sid, "phone")
    run_id = new_id()
    async with broker_connection(stack.broker, "test-release") as conn:
        publisher = await Publisher(
            await conn.channel(publisher_confirms=True), names_from(stack.broker), stack.broker
        ).start()
        for seq in range(1, total + 1):  # one message each, confirmed one by one
            await publisher.publish(
                make_event("token", {"token": f"t{seq} "}, session_id=sid, run_id=run_id, seq=seq)
            )
        await phone.pump(lambda d: len(d.run_events(run_id)) >= phone.ack_window, 30)
        waiting = await _WaitingConsumer.start(conn, queue_name)
        try:
            await phone.drop()  # the gateway releases the device's queue
            seqs = await waiting.take(total, run_id, timeout=30)
        finally:
            await waiting.close()
    # the device acked some (it acks every half window): the rest, all of it, in order
    assert seqs == list(range(seqs[0], total + 1)), f"out of order after the release: {seqs}"


class _WaitingConsumer:
    """A plain consumer of the device's queue (waiting: the gateway's is the active one)."""

    def __init__(self, channel: aio_pika.abc.AbstractChannel) -> None:
        self.channel = channel
        self.bodies: asyncio.Queue[bytes] = asyncio.Queue()

    @classmethod
    async def start(cls, conn: aio_pika.abc.AbstractConnection, name: str) -> "_WaitingConsumer":
        channel = await conn.channel()
        await channel.set_qos(prefetch_count=10_000)
        waiting = cls(channel)
        queue = await channel.get_queue(name, ensure=False)

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            await message.ack()
            waiting.bodies.put_nowait(message.body)

        await queue.consume(on_message)
        return waiting

    async def take(self, last: int, run_id: str, timeout: float) -> list[int]:
        """The run's seqs in arrival order (first copies only), until every seq from the
        lowest that came up to `last` is there (the device acked the ones before)."""
        seqs: list[int] = []
        try:
            async with asyncio.timeout(timeout):
                while not seqs or len(set(seqs)) < last - min(seqs) + 1:
                    for event in _events(await self.bodies.get()):
                        if event.get("run_id") == run_id and event["seq"] not in seqs:
                            seqs.append(event["seq"])
        except TimeoutError:
            pytest.fail(f"the next consumer got {len(seqs)} events, with holes: {seqs}")
        return seqs

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.channel.close()


def _events(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in body.decode().split("\n") if line]
