"""The tool worker: competing consumer of `ai.tools`, one reply per request.

A request (see `tool_rpc.py`) with `reply_to` and `correlation_id` gets `{"result": ...}` or
`{"error": "..."}` on the default exchange. Nothing a caller sends crashes the worker:
malformed requests, unknown tools, bad parameters and handler failures all become errors.
A user with `max_calls_per_user` calls running here gets `too_many_tool_calls` at once, and
a cancel on `ai.control` (`tool-cancel.<call_id>`) stops the call's work. A malformed
request is also dead-lettered (`ai.dead-letters.tools`), and so is one whose reply cannot be
published. A request whose worker died is redelivered until its expiration (the caller's timeout).
"""

import asyncio
import json
import logging
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue
from switchboard_events import BrokerSettings, Names, declare_topology
from switchboard_events.deadletter import DeadLetter, DeadLetters
from switchboard_protocol import ToolReply

from ..tool_rpc import (
    LIST_TOOLS,
    MAX_TOOL_CALLS_PER_USER,
    TOO_MANY,
    ToolRequest,
    call_id_of_cancel,
)
from .calls import CallLimitReached, RunningCalls
from .registry import Caller, ToolError, ToolRegistry

log = logging.getLogger(__name__)


class ToolServer:
    def __init__(
        self,
        channel: AbstractChannel,
        names: Names,
        registry: ToolRegistry,
        broker: BrokerSettings | None = None,
        max_calls_per_user: int = MAX_TOOL_CALLS_PER_USER,
    ) -> None:
        self._broker = broker
        self._dead_letters: DeadLetters | None = None
        self._channel = channel
        self._names = names
        self._registry = registry
        self.calls = RunningCalls(max_calls_per_user)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._consumer: tuple[AbstractQueue, str] | None = None

    async def start(self) -> None:
        await declare_topology(self._channel, self._names, self._broker)
        self._dead_letters = DeadLetters(self._channel, self._names, "tools")
        cancels = await self._channel.declare_queue(exclusive=True, auto_delete=True)
        await cancels.bind(self._names.control_exchange, Names.binding(Names.TOOL_CANCEL))
        await cancels.consume(self._on_cancel, no_ack=True)
        queue = await self._channel.declare_queue(self._names.tool_queue, passive=True)
        self._consumer = (queue, await queue.consume(self._on_message))

    async def _on_cancel(self, message: AbstractIncomingMessage) -> None:
        call_id = call_id_of_cancel(message.routing_key)
        if call_id is not None and self.calls.cancel(call_id):
            log.info("tool call %s cancelled by its caller", call_id)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            reply, letter = await self._answer(message.body, message.correlation_id)
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

    async def answer(self, body: bytes, correlation_id: str | None = None) -> dict[str, Any]:
        """The reply to one request body, as its JSON reads."""
        reply, _ = await self._answer(body, correlation_id)
        return dict(json.loads(_body(reply)))

    async def _answer(
        self, body: bytes, correlation_id: str | None
    ) -> tuple[ToolReply, DeadLetter | None]:
        """The reply, and the reason to dead-letter the request when it is malformed."""
        try:
            request = ToolRequest.parse(body, correlation_id)
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
            error = f"malformed tool request: {exc!r}"
            return ToolReply(error=error), DeadLetter("invalid_tool_request", error)
        if request.op == LIST_TOOLS:
            return ToolReply(result={"tools": self._registry.describe()}), None
        return await self._admitted(request), None

    async def _admitted(self, request: ToolRequest) -> ToolReply:
        try:
            self.calls.admit(request.user_id)
        except CallLimitReached:
            limit = self.calls.max_per_user
            return ToolReply(
                error=f"{TOO_MANY}: at most {limit} tool calls in flight per user "
                "(MAX_TOOL_CALLS_PER_USER); retry when one has answered"
            )
        try:
            return await self._run(request)
        finally:
            self.calls.release(request.user_id, request.call_id)

    async def _run(self, request: ToolRequest) -> ToolReply:
        """Run the call as its own task, so a cancel stops it without stopping the consumer."""
        work = asyncio.ensure_future(self._result(request))
        if not self.calls.track(request.call_id, work):
            work.cancel()
        try:
            await asyncio.wait({work})
        finally:
            work.cancel()
        if work.cancelled():
            return ToolReply(error="cancelled: the caller stopped waiting")
        return work.result()

    async def _result(self, request: ToolRequest) -> ToolReply:
        name = request.tool_name
        try:
            caller = Caller(request.user_id, request.session_id, request.run_id, request.call_id)
            return ToolReply(result=await self._registry.call(name, request.parameters, caller))
        except ToolError as exc:
            return ToolReply(error=str(exc))
        except Exception as exc:
            log.exception("tool %s failed", name)
            return ToolReply(error=f"tool {name} failed: {exc!r}")

    async def _reply(self, message: AbstractIncomingMessage, reply: ToolReply) -> None:
        if not message.reply_to:
            log.warning("tool request without reply_to: %s", reply)
            return
        body = _body(reply)
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


def _body(reply: ToolReply) -> bytes:
    """`reply` as JSON; a result value JSON cannot hold (a tool's own object) as its str()."""
    return json.dumps(reply.model_dump(mode="json", by_alias=True, fallback=str)).encode()
