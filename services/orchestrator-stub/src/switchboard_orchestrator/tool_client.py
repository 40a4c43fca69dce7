"""The run worker's side of tool RPC: publish on `ai.commands`/`tool`, await the reply.

Replies come to one exclusive auto-delete queue per worker; `correlation_id` = `call_id`.
A request carries the timeout as its expiration, so a call nobody took in time is dropped.
When the run stops waiting (the call timed out, or the run was cancelled) a cancel goes to
the tool workers (`tool_rpc.py`), so the tool's work stops too.
"""

import asyncio
import json
import logging
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractIncomingMessage, AbstractQueue
from switchboard_events import Names
from switchboard_events.topology import TOOL_KEY
from switchboard_protocol import ToolCancel, dumps, new_id

from .tool_rpc import LIST_TOOLS, ToolRequest

log = logging.getLogger(__name__)


class ToolsUnavailable(RuntimeError):
    """No tool worker answered the tool list request."""


class ToolClient:
    def __init__(self, channel: AbstractChannel, names: Names, timeout_s: float) -> None:
        self._channel = channel
        self._names = names
        self.timeout_s = timeout_s
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._exchange: AbstractExchange | None = None
        self._control: AbstractExchange | None = None
        self._replies: AbstractQueue | None = None
        self._cancels: set[asyncio.Task[None]] = set()

    async def start(self) -> "ToolClient":
        self._exchange = await self._channel.get_exchange(self._names.commands_exchange)
        self._control = await self._channel.get_exchange(self._names.control_exchange)
        self._replies = await self._channel.declare_queue(exclusive=True, auto_delete=True)
        await self._replies.consume(self._on_reply, no_ack=True)
        return self

    async def call(
        self,
        call_id: str,
        tool_name: str,
        parameters: dict[str, Any],
        user_id: str = "",
        *,
        session_id: str = "",
        run_id: str = "",
    ) -> dict[str, Any]:
        """The reply (`{"result": ...}` or `{"error": ...}`); `{"error": "timeout"}` if late.
        The call runs for `user_id` in `session_id`/`run_id` (every tool is told)."""
        request = ToolRequest(
            call_id, tool_name, parameters, user_id, session_id=session_id, run_id=run_id
        )
        return await self._ask(request)

    async def list_tools(self) -> list[dict[str, Any]]:
        """The tools a tool worker serves (`{"name", "description", "parameters", ...}`);
        ToolsUnavailable when none answered in time or the answer is not a list."""
        reply = await self._ask(ToolRequest(new_id(), "", {}, "", LIST_TOOLS))
        result = reply.get("result")
        tools = result.get("tools") if isinstance(result, dict) else None
        if not isinstance(tools, list):
            raise ToolsUnavailable(str(reply.get("error") or "malformed tool list"))
        return [tool for tool in tools if isinstance(tool, dict) and tool.get("name")]

    async def _ask(self, request: ToolRequest) -> dict[str, Any]:
        assert self._exchange is not None and self._replies is not None, "start() not awaited"
        call_id = request.call_id
        future = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        message = aio_pika.Message(
            request.body(),
            content_type="application/json",
            reply_to=self._replies.name,
            correlation_id=call_id,
            expiration=self.timeout_s,
        )
        answered = False
        try:
            await self._exchange.publish(message, TOOL_KEY)
            reply = await asyncio.wait_for(future, self.timeout_s)
            answered = True
            return reply
        except TimeoutError:
            return {"error": "timeout"}
        finally:
            self._pending.pop(call_id, None)
            if not answered:
                self._cancel_later(call_id)

    def _cancel_later(self, call_id: str) -> None:
        """Tell the tool workers to stop `call_id` (in the background: the run moves on)."""
        task = asyncio.create_task(self._send_cancel(call_id))
        self._cancels.add(task)
        task.add_done_callback(self._cancels.discard)

    async def _send_cancel(self, call_id: str) -> None:
        assert self._control is not None
        body = dumps(ToolCancel(call_id=call_id)).encode()
        try:
            await self._control.publish(aio_pika.Message(body), Names.tool_cancel_key(call_id))
        except Exception as exc:  # noqa: BLE001 - the tool then runs to its own end
            log.warning("could not cancel tool call %s: %r", call_id, exc)

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        future = self._pending.get(message.correlation_id or "")
        if future is None or future.done():
            log.info("late or unknown tool reply %s", message.correlation_id)
            return
        try:
            reply = json.loads(message.body)
            if not isinstance(reply, dict):
                raise ValueError("reply is not an object")
        except ValueError as exc:
            reply = {"error": f"malformed tool reply: {exc}"}
        future.set_result(reply)
