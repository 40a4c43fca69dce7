"""Requests the workers cannot read are never dropped silently (issue 12, item 9): the run
ends failed when its ids can be read, the request is dead-lettered, other runs go on."""

import json

import aio_pika
from switchboard_events import BrokerSettings, Names, broker_connection, new_id
from switchboard_events.deadletter_admin import Parked, peek
from switchboard_events.topology import TOOL_KEY

from tests.conftest import wait_until
from tests.worker.harness import Client, types


def nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"a": value}
    return value


async def parked(settings: BrokerSettings, names: Names, source: str, count: int) -> list[Parked]:
    async with broker_connection(settings, "test-dead-letters") as conn:
        channel = await conn.channel()

        async def enough() -> bool:
            return len(await peek(channel, names, source, count + 1)) >= count

        await wait_until(enough, timeout=20)
        return await peek(channel, names, source, count + 1)


async def test_a_request_too_deep_to_parse_fails_its_run_and_is_dead_lettered(
    client: Client, worker, tools, broker_settings, names
) -> None:
    alice, bob = await client.device(), await client.device()
    deep = await client.send(alice, "hello", metadata=nested(200))
    failed = await alice.run(deep)
    assert types(failed) == ["error", "run_end"]
    assert failed[0].data.code == "bad_run_request" and failed[1].data.status == "failed"
    assert [e.seq for e in failed] == [1, 2]
    nxt = await client.send(alice, "/tokens 2")  # the session's next message runs
    assert types(await alice.run(nxt))[-1] == "run_end"
    bystander = await client.send(bob, "/tokens 3")
    events = await bob.run(bystander)
    assert events[-1].data.status == "completed"
    (letter,) = await parked(broker_settings, names, "runs", 1)
    assert letter.reason == "invalid_run_request" and "recursion" in letter.error
    assert letter.source_queue == names.run_queue


async def test_a_request_without_ids_is_dead_lettered(
    client: Client, worker, broker_settings, names
) -> None:
    await client.publish_raw(b"\xff not json")
    await client.publish_raw(json.dumps({"run_id": "a.b", "session_id": 3}).encode())
    letters = await parked(broker_settings, names, "runs", 2)
    assert [p.reason for p in letters] == ["invalid_run_request"] * 2
    bob = await client.device()
    assert (await bob.run(await client.send(bob, "/tokens 1")))[-1].data.status == "completed"


async def test_a_malformed_tool_request_is_answered_and_dead_lettered(
    client: Client, tools, broker_settings, names
) -> None:
    replies = await client.channel.declare_queue(exclusive=True, auto_delete=True)
    exchange = await client.channel.get_exchange(names.commands_exchange)
    for body in (b"[1, 2]", b"{not json", json.dumps({"tool_name": 5}).encode()):
        message = aio_pika.Message(body, reply_to=replies.name, correlation_id=new_id())
        await exchange.publish(message, TOOL_KEY)
    answers = []
    async with replies.iterator() as incoming:
        async for message in incoming:
            answers.append(json.loads(message.body))
            await message.ack()
            if len(answers) == 3:
                break
    assert all(a["error"].startswith("malformed tool request") for a in answers)
    letters = await parked(broker_settings, names, "tools", 3)
    assert {p.reason for p in letters} == {"invalid_tool_request"}
