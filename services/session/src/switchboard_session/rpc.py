"""The session service's RPC queue (`ai.run-progress`), consumed only by the ingest owner.

- Catch-up (AMQP type `catchup`, body `{"session_id"}`, `reply_to`, `correlation_id`): handed
  to the session's shard (shard.py), answered after that shard's current transaction with
  `{"active_run", "position"}`: the run as folded up to stream offset `position` of the shard.
- Lease renewal (type `lease`, body `{"worker", "runs"}`, `reply_to`): the leases are renewed
  and the worker told which runs it no longer holds (leases.py). Renewals that arrive together
  are renewed in one transaction.

Each request is acked once answered; anything else on the queue is dropped. The queue is
consumed on the aiormq channel itself (no aio-pika message object per delivery).
"""

import asyncio
import logging
from dataclasses import dataclass

import aio_pika
import aiormq.abc
from aio_pika.abc import AbstractChannel
from switchboard_events.routing import CATCHUP_REQUEST, LEASE_RENEWAL, shard_of
from switchboard_protocol import (
    ActiveRun,
    CatchUpReply,
    CatchUpRequest,
    LeaseRenewal,
    LeaseReply,
    dumps,
)

from . import leases
from .app_context import AppContext
from .shard import ShardIngest

log = logging.getLogger(__name__)


@dataclass(slots=True, eq=False)
class Delivery:
    """What is kept of one request."""

    tag: int
    type: str | None
    body: bytes
    reply_to: str | None
    correlation_id: str | None

    @classmethod
    def of(cls, message: aiormq.abc.DeliveredMessage) -> "Delivery":
        properties = message.header.properties
        return cls(
            message.delivery_tag or 0,
            properties.message_type,
            message.body,
            properties.reply_to,
            properties.correlation_id,
        )


class Rpc:
    """The consumer callback, plus the loop that renews leases."""

    def __init__(
        self, ctx: AppContext, channel: AbstractChannel, underlay: aiormq.abc.AbstractChannel,
        shards: list[ShardIngest],
    ) -> None:  # fmt: skip
        self.ctx = ctx
        self.channel = channel
        self._underlay = underlay
        self._shards = shards
        self._renewals: list[Delivery] = []
        self._pending = asyncio.Event()

    async def __call__(self, delivered: aiormq.abc.DeliveredMessage) -> None:
        message = Delivery.of(delivered)
        if message.type == CATCHUP_REQUEST:
            session_id = _session_of(message)
            shard = self._shards[shard_of(session_id, len(self._shards))]
            shard.ask(session_id, lambda run, position: self._reply(message, run, position))
        elif message.type == LEASE_RENEWAL:
            self._renewals.append(message)
            self._pending.set()
        else:
            await self._underlay.basic_ack(message.tag)

    async def _reply(self, request: Delivery, run: ActiveRun | None, position: int) -> None:
        if request.reply_to:
            body = dumps(CatchUpReply(active_run=run, position=position)).encode()
            reply = aio_pika.Message(
                body, content_type="application/json", correlation_id=request.correlation_id
            )
            await self.channel.default_exchange.publish(reply, str(request.reply_to))
        await self._underlay.basic_ack(request.tag)

    async def renew_forever(self) -> None:
        """Renew what arrived (all of it in one transaction); retried after a failure."""
        while True:
            await self._pending.wait()
            self._pending.clear()
            renewals, self._renewals = self._renewals, []
            try:
                await self._renew(renewals)
            except Exception as exc:  # noqa: BLE001 - keep them; try again shortly
                log.warning("lease renewals not stored (%r); retrying", exc)
                self._renewals = renewals + self._renewals
                self._pending.set()
                await asyncio.sleep(self.ctx.settings.broker_retry_s)

    async def _renew(self, renewals: list[Delivery]) -> None:
        """Renew the leases the renewals name; tell each worker which runs it lost."""
        lease_s = self.ctx.settings.run_lease_s
        answers = []
        async with self.ctx.database.begin() as db:
            for message in renewals:
                worker, run_ids = _renewal(message.body)
                held = await leases.renew(db, run_ids, worker, lease_s) if run_ids else set()
                answers.append((message, [r for r in run_ids if r not in held]))
        for message, lost in answers:
            if message.reply_to:
                body = dumps(LeaseReply(lost=lost)).encode()
                reply = aio_pika.Message(body, type=LEASE_RENEWAL, content_type="application/json")
                await self.channel.default_exchange.publish(reply, str(message.reply_to))
            await self._underlay.basic_ack(message.tag)


def _renewal(body: bytes) -> tuple[str, list[str]]:
    """`(worker, run ids)` of a lease renewal; an unreadable one names no run."""
    try:
        renewal = LeaseRenewal.read_json(body)
        return renewal.worker, renewal.runs
    except (ValueError, RecursionError):
        log.warning("skipping an unreadable lease renewal %r", body[:200])
        return "", []


def _session_of(request: Delivery) -> str:
    try:
        return CatchUpRequest.read_json(request.body).session_id[:64]
    except (ValueError, RecursionError):
        return ""


async def serve(ctx: AppContext, channel: AbstractChannel, shards: list[ShardIngest]) -> None:
    """Consume the RPC queue on `channel` until it closes (raises) or the task is cancelled."""
    await channel.set_qos(prefetch_count=ctx.settings.progress_prefetch)
    underlay = await channel.get_underlay_channel()
    rpc = Rpc(ctx, channel, underlay, shards)
    closed = asyncio.Event()
    channel.close_callbacks.add(lambda *_: closed.set())
    renewing = asyncio.create_task(rpc.renew_forever())
    try:
        await underlay.basic_consume(ctx.broker.names.progress_queue, rpc)
        watching = asyncio.create_task(closed.wait())
        await asyncio.wait([renewing, watching], return_when=asyncio.FIRST_COMPLETED)
        watching.cancel()
        if renewing.done():
            renewing.result()
    finally:
        renewing.cancel()
        if not channel.is_closed:
            await channel.close()
    raise ConnectionError("RPC channel closed")
