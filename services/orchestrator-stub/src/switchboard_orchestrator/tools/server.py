"""The tool worker: competing consumer of `ai.tools`, one reply per request.

A request `{"call_id", "tool_name", "parameters"}` with `reply_to` and `correlation_id` gets
`{"result": ...}` or `{"error": "..."}` on the default exchange. Nothing a caller sends
crashes the worker: malformed requests, unknown tools, bad parameters and handler failures
all become errors. A malformed request is also dead-lettered (`ai.dead-letters.tools`).
A request whose worker died is redelivered until its expiration (the caller's timeout).
"""

import asyncio
import json
import logging
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue
from switchboard_events import Names, declare_topology
from switchboard_events.deadletter import DeadLetter, DeadLetters

from .registry import ToolError, ToolRegistry

log = logging.getLogger(__name__)


class ToolServer:
    def __init__(
        self,
        channel: AbstractChannel,
        names: Names,
        registry: ToolRegistry,
        queue_type: str = "classic",
        dead_letter_max: int = 10_000,
    ) -> None:
        self._queue_type = queue_type
        self._dead_letter_max = dead_letter_max
        self._dead_letters: DeadLetters | None = None
        self._channel = channel
        self._names = names
        self._registry = registry
        self._tasks: set[asyncio.Task[Any]] = set()
        self._consumer: tuple[AbstractQueue, str] | None = None

    async def start(self) -> None:
        await declare_topology(self._channel, self._names, self._queue_type, self._dead_letter_max)
        self._dead_letters = DeadLetters(self._channel, self._names, "tools")
        queue = await self._channel.declare_queue(self._names.tool_queue, passive=True)
        self._consumer = (queue, await queue.consume(self._on_message))

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            reply, letter = await self._answer(message.body)
        except asyncio.CancelledError:
            await message.reject(requeue=True)
            raise
        finally:
            self._tasks.discard(task)
        try:
            await self._reply(message, reply)
        except Exception as exc:  # noqa: BLE001 - an unanswerable request must not loop
            letter = letter or DeadLetter("reply_failed", repr(exc))
        if letter is not None and self._dead_letters is not None:
            await self._dead_letters.park(message, letter)
        await message.ack()

    async def answer(self, body: bytes) -> dict[str, Any]:
        """The reply to one request body."""
        reply, _ = await self._answer(body)
        return reply

    async def _answer(self, body: bytes) -> tuple[dict[str, Any], DeadLetter | None]:
        """The reply, and the reason to dead-letter the request when it is malformed."""
        try:
            name, parameters = _parse(body)
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
            error = f"malformed tool request: {exc!r}"
            return {"error": error}, DeadLetter("invalid_tool_request", error)
        return await self._call(name, parameters), None

    async def _call(self, name: str, parameters: Any) -> dict[str, Any]:
        try:
            return {"result": await self._registry.call(name, parameters)}
        except ToolError as exc:
            return {"error": str(exc)}
        except Exception as exc:
            log.exception("tool %s failed", name)
            return {"error": f"tool {name} failed: {exc!r}"}

    async def _reply(self, message: AbstractIncomingMessage, reply: dict[str, Any]) -> None:
        if not message.reply_to:
            log.warning("tool request without reply_to: %s", reply)
            return
        body = json.dumps(reply, default=str).encode()
        answer = aio_pika.Message(
            body, content_type="application/json", correlation_id=message.correlation_id
        )
        await self._channel.default_exchange.publish(answer, message.reply_to)

    async def stop(self) -> None:
        """Stop consuming and cancel calls in progress (their requests go back unacked)."""
        if self._consumer is not None:
            queue, tag = self._consumer
            await queue.cancel(tag)
        for task in list(self._tasks):
            task.cancel()


def _parse(body: bytes) -> tuple[str, Any]:
    """`(tool_name, parameters)` of a request body; raises when it is malformed."""
    request = json.loads(body)
    name, parameters = request["tool_name"], request.get("parameters", {})
    if not isinstance(name, str):
        raise TypeError("tool_name must be a string")
    return name, parameters
