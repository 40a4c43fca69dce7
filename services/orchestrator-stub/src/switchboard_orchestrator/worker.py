"""The run worker: competing consumer of `ai.runs`, several runs at once, acks when done.

A request is acked only after its run ended and every event was confirmed. While it runs, the
worker renews the run's lease (lease.py); a worker that dies or loses its broker link stops
renewing, and the session service fails the run `worker_lost` once the lease lapsed. A
redelivered request (its worker died, or its link dropped) is therefore acked and not run: the
lease decides. A request not taken before its `start_by` was (or will be) failed `no_worker` by
the session service, and is dropped too. Cancels arrive on an exclusive queue bound to `ai.control`
with `cancel.*`. `stop()` stops consuming, lets runs finish within the grace period,
cancels the rest, and hands back requests that arrived too late to start.
"""

import asyncio
import contextlib
import json
import logging
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue
from aio_pika.abc import AbstractRobustConnection as Connection
from pydantic import ValidationError
from switchboard_events import (
    Names,
    Publisher,
    PublishFailed,
    RunStream,
    declare_topology,
    names_from,
)
from switchboard_events.deadletter import DeadLetter, DeadLetters
from switchboard_events.routing import LEASE_RENEWAL
from switchboard_events.topology import RUN_KEY
from switchboard_protocol import RunRequest

from .agents import Agents
from .cancellation import LEASE_LOST, CancelRegistry
from .lease import Leases
from .request import readable_ids
from .run import LOST, execute, fail_unreadable_run
from .run_context import RunContext
from .settings import WorkerSettings
from .tool_catalog import ToolCatalog
from .tool_client import ToolClient
from .voice import Voice, default_voice

log = logging.getLogger(__name__)
HANDED_BACK = "x-handed-back"
REFUSE_RETRY_S = 1.0


@dataclass
class _Active:
    message: AbstractIncomingMessage
    """The delivery to ack (replaced if the broker redelivers it to us after a reconnect)."""
    session_id: str


class RunWorker:
    def __init__(
        self,
        settings: WorkerSettings,
        connection: Connection,
        agents: Agents,
        voice: Voice | None = None,
    ):
        self.settings = settings
        self._voice = voice or default_voice()
        self.names = names_from(settings)
        self.worker_id = f"{socket.gethostname()}-{os.getpid()}"
        self._connection = connection
        self._agents = agents
        self._cancels = CancelRegistry(settings.cancel_memory_s)
        self._approvals = settings.approvals
        self._active: dict[str, _Active] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._abandoned: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._consumer: tuple[AbstractQueue, str] | None = None
        self._leases = Leases(self.worker_id, settings.run_lease_renew_s, self._lose)
        self._control_queue: AbstractQueue | None = None

    async def start(self) -> None:
        """Declare, listen for cancels, open the tool client, then start consuming runs."""
        self._out = await self._connection.channel()
        await declare_topology(self._out, self.names, self.settings)
        self._publisher = await Publisher(self._out, self.names, self.settings).start()
        self._dead_letters = DeadLetters(self._out, self.names, "runs")
        control = await self._connection.channel()
        self._tools = await ToolClient(control, self.names, self.settings.tool_timeout_s).start()
        self._catalog = ToolCatalog(self._tools, self.settings.tool_list_ttl_s)
        await self._listen_for_cancels(control)
        self._renewing = asyncio.create_task(
            self._leases.run(self._out, self.names.progress_queue, self._reply_to)
        )
        runs_channel = await self._connection.channel()
        await runs_channel.set_qos(prefetch_count=self.settings.run_prefetch)
        runs = await runs_channel.declare_queue(self.names.run_queue, passive=True)
        self._consumer = (runs, await runs.consume(self._on_message))

    async def _listen_for_cancels(self, channel: AbstractChannel) -> None:
        """Cancels (`cancel.*`) and tool decisions (`approval.*`, approval.py)."""
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(self.names.control_exchange, Names.binding(Names.CANCEL))
        await queue.bind(self.names.control_exchange, Names.binding(Names.APPROVAL))
        await queue.consume(self._on_control, no_ack=True)
        self._control_queue = queue

    def _reply_to(self) -> str:
        """Where lease replies go: the control queue (its name may change on a reconnect)."""
        return self._control_queue.name if self._control_queue is not None else ""

    async def _on_control(self, message: AbstractIncomingMessage) -> None:
        if message.type == LEASE_RENEWAL:
            self._leases.on_reply(message.body)
        elif (call_id := Names.key_id(Names.APPROVAL, message.routing_key)) is not None:
            self._approvals.deliver(call_id, message.body)
        else:
            await self._on_cancel(message)

    async def _on_cancel(self, message: AbstractIncomingMessage) -> None:
        run_id = Names.key_id(Names.CANCEL, message.routing_key) or ""
        try:
            run_id = str(json.loads(message.body).get("run_id") or run_id)
        except (ValueError, AttributeError):
            log.warning("cancel with a malformed body for %r", run_id)
        if run_id:
            log.info("cancel %s", run_id)
            self._cancels.cancel(run_id)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        if self._stopping:
            await self._hand_back(message)
            return
        try:
            request = RunRequest.read_json(message.body)
        except ValidationError as exc:
            await self._refuse(message, str(exc))
            return
        if request.run_id in self._active:
            await self._replace_delivery(request.run_id, message)
            return
        self._active[request.run_id] = _Active(message, request.session_id)
        task = asyncio.create_task(self._handle(request))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _refuse(self, message: AbstractIncomingMessage, error: str) -> None:
        """A request that does not validate: its run (when its ids can be read) ends failed
        `bad_run_request`, and the request is dead-lettered. Never dropped silently."""
        try:
            ids = readable_ids(message.body)
            if ids is not None:
                await fail_unreadable_run(self._publisher, *ids)
            await self._dead_letters.park(message, DeadLetter("invalid_run_request", error))
        except Exception as exc:  # noqa: BLE001 - the broker is in trouble: it keeps it
            log.warning("could not refuse a malformed run request (%r); requeueing it", exc)
            await asyncio.sleep(REFUSE_RETRY_S)  # no lock held: other requests go on
            await message.reject(requeue=True)
            return
        await message.ack()

    async def _handle(self, request: RunRequest) -> None:
        try:
            if self._active[request.run_id].message.redelivered:
                log.warning("run %s was redelivered: its lease decides its end", request.run_id)
            elif request.start_by is not None and datetime.now(UTC) > request.start_by:
                log.warning("run %s came after its start_by: it ends no_worker", request.run_id)
            else:
                self._leases.hold(request.run_id, request.lease_s)
                await self._run(request)
            await self._settle(request.run_id, ack=True)
        except PublishFailed as exc:
            log.error("run %s: events not confirmed (%s); handing it back", request.run_id, exc)
            await self._settle(request.run_id, ack=False)
        finally:
            self._leases.release(request.run_id)
            self._active.pop(request.run_id, None)

    def _lose(self, run_id: str) -> None:
        """The run's lease is gone (the session service failed it, or will): stop the run and
        publish nothing more for it (events not yet sent are withdrawn)."""
        active = self._active.get(run_id)
        self._cancels.cancel(run_id, LEASE_LOST)
        if active is not None:
            dropped = self._publisher.withdraw(active.session_id, run_id)
            log.warning("run %s given up (lease lost); %d unsent events dropped", run_id, dropped)

    async def _run(self, request: RunRequest) -> None:
        control = self._cancels.attach(request.run_id)
        stream = RunStream(
            self._publisher,
            session_id=request.session_id,
            run_id=request.run_id,
            agent_type=request.agent_type,
        )
        try:
            ctx = RunContext(
                request,
                stream,
                control,
                self._tools,
                self._agents,
                self.worker_id,
                self.settings.run_limits,
                self._approvals,
                self._catalog,
                voice=self._voice,
            )
            status = await execute(ctx)
        finally:
            self._cancels.detach(request.run_id)
        if status == LOST:
            log.warning("run %s stopped: its lease was lost", request.run_id)
            self._abandon(stream)
            return
        await stream.drain()
        log.info("run %s %s (%d events)", request.run_id, status, stream.seq)

    def _abandon(self, stream: RunStream) -> None:
        """A lost run's events still in flight settle whenever the link decides (confirmed or
        failed); nobody waits for them, and their failures are expected."""
        task = asyncio.create_task(_settled_quietly(stream))
        self._abandoned.add(task)
        task.add_done_callback(self._abandoned.discard)

    async def _replace_delivery(self, run_id: str, message: AbstractIncomingMessage) -> None:
        """A second delivery of a run in progress (our channel reconnected, or a duplicate):
        the run goes on and acks the newest delivery; the older one is settled now."""
        log.info("run %s delivered again while running; keeping the run", run_id)
        await self._settle(run_id, ack=True)
        self._active[run_id].message = message

    async def _settle(self, run_id: str, *, ack: bool) -> None:
        message = self._active[run_id].message
        try:
            await (message.ack() if ack else message.reject(requeue=True))
        except Exception as exc:  # noqa: BLE001 - a lost channel already requeued it
            log.warning("could not settle run %s: %r", run_id, exc)

    async def _hand_back(self, message: AbstractIncomingMessage) -> None:
        """Give an unstarted request back without the `redelivered` flag a reject would set."""
        if message.redelivered:
            await message.reject(requeue=True)
            return
        try:
            headers = {**(message.headers or {}), HANDED_BACK: True}
            copy = aio_pika.Message(
                message.body,
                headers=headers,
                content_type=message.content_type,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            )
            exchange = await self._out.get_exchange(self.names.commands_exchange)
            await exchange.publish(copy, RUN_KEY)
            await message.ack()
        except Exception as exc:  # noqa: BLE001 - fall back to the broker's requeue
            log.warning("republishing an unstarted run failed (%r); rejecting it", exc)
            await message.reject(requeue=True)

    async def stop(self) -> None:
        """Stop consuming; let runs finish within the grace period, then cancel the rest."""
        self._stopping = True
        if self._consumer is not None:
            queue, tag = self._consumer
            await queue.cancel(tag)
        grace = self.settings.shutdown_grace_s
        if self._tasks:
            _, late = await asyncio.wait(set(self._tasks), timeout=grace)
            if late:
                log.warning("cancelling %d runs still active after %.1f s", len(late), grace)
                self._cancels.cancel_all("worker shutting down")
                await asyncio.wait(late, timeout=10)
        await self._publisher.flush()
        self._renewing.cancel()  # renewed until every run ended
        await asyncio.gather(self._renewing, return_exceptions=True)


async def _settled_quietly(stream: RunStream) -> None:
    with contextlib.suppress(PublishFailed):
        await stream.drain()
