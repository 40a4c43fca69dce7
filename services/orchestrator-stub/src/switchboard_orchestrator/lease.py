"""Run leases, the worker's side: renew the lease of every run it holds; give up a run it no
longer holds.

Every RUN_LEASE_RENEW_S the worker publishes one renewal naming all its runs straight to the
run-progress queue (AMQP type `lease`, `reply_to` its control queue). The session service
extends each run's lease to RUN_LEASE_S from when it reads the renewal and answers with the
runs that are no longer this worker's (`{"lost": [...]}`: failed `worker_lost`, or unknown).
A run is also given up when no renewal naming it was confirmed by the broker for its lease (the
session service's RUN_LEASE_S, carried by the run request as `lease_s`; counted from when that
renewal was sent): from then on the session service may fail it, so
the worker stops first. Giving up a run is `on_lost(run_id)` (worker.py).
"""

import asyncio
import logging
import time
from collections.abc import Callable

import aio_pika
from aio_pika.abc import AbstractChannel
from switchboard_events import renew_channel
from switchboard_events.routing import LEASE_RENEWAL
from switchboard_protocol import LeaseRenewal, LeaseReply, dumps

log = logging.getLogger(__name__)
EXPIRY_CHECK_S = 0.25


class Leases:
    """The runs this worker holds, with the send time of each one's newest confirmed renewal
    and each one's lease."""

    def __init__(self, worker_id: str, renew_s: float, on_lost: Callable[[str], None]) -> None:
        self.worker_id = worker_id
        self.renew_s = renew_s
        self._on_lost = on_lost
        self._held: dict[str, float] = {}
        self._lease_s: dict[str, float] = {}

    def hold(self, run_id: str, lease_s: float) -> None:
        """A run was taken with its lease (`RunRequest.lease_s`): it counts from now until the
        first renewal."""
        self._held[run_id] = time.monotonic()
        self._lease_s[run_id] = lease_s

    def release(self, run_id: str) -> None:
        self._held.pop(run_id, None)
        self._lease_s.pop(run_id, None)

    def interval(self) -> float:
        """Time between renewals: RUN_LEASE_RENEW_S, or a third of the shortest lease held."""
        return min([self.renew_s, *(lease / 3 for lease in self._lease_s.values())])

    def on_reply(self, body: bytes) -> None:
        """The session service's answer to a renewal: give up the runs it names as lost."""
        try:
            lost = LeaseReply.read_json(body).lost
        except (ValueError, RecursionError):
            log.warning("unreadable lease reply %r", body[:200])
            return
        for run_id in lost:
            if isinstance(run_id, str) and run_id in self._held:
                log.warning("run %s: the session service says its lease is gone", run_id)
                self._lose(run_id)

    def expire(self) -> None:
        """Give up every run with no renewal confirmed within the lease."""
        now = time.monotonic()
        lapsed = [r for r, sent in self._held.items() if sent < now - self._lease_s[r]]
        for run_id in lapsed:
            log.warning(
                "run %s: no lease renewal confirmed for %.1f s", run_id, self._lease_s[run_id]
            )
            self._lose(run_id)

    def _lose(self, run_id: str) -> None:
        self.release(run_id)
        self._on_lost(run_id)

    async def renew(self, channel: AbstractChannel, queue: str, reply_to: str) -> None:
        """Publish one renewal of the held runs and wait for the broker's confirm (expiry is
        checked meanwhile by `run`, so a renewal stuck on a dead link delays nothing)."""
        if not self._held:
            return
        sent = time.monotonic()
        runs = list(self._held)
        body = dumps(LeaseRenewal(worker=self.worker_id, runs=runs)).encode()
        message = aio_pika.Message(
            body, type=LEASE_RENEWAL, reply_to=reply_to, content_type="application/json"
        )
        try:  # no timeout: a renewal held up by a stalled link still counts once confirmed
            await channel.default_exchange.publish(message, queue)
        except Exception as exc:  # noqa: BLE001 - the lease clock keeps running meanwhile
            log.warning("lease renewal not confirmed (%r)", exc)
            if isinstance(exc, aio_pika.exceptions.DeliveryError):
                # a quorum queue's nack can stick to the channel (RabbitMQ 3.10): the next
                # renewal goes out on a new one
                await renew_channel(channel)
            return
        for run_id in runs:
            if run_id in self._held:
                self._held[run_id] = max(self._held[run_id], sent)

    async def run(self, channel: AbstractChannel, queue: str, reply_to: Callable[[], str]) -> None:
        """Renew every RUN_LEASE_RENEW_S, and look for lapsed runs every EXPIRY_CHECK_S (a
        renewal stuck on a dead link does not delay that), until cancelled."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._renew_forever(channel, queue, reply_to))
            while True:
                self.expire()
                await asyncio.sleep(EXPIRY_CHECK_S)

    async def _renew_forever(
        self, channel: AbstractChannel, queue: str, reply_to: Callable[[], str]
    ) -> None:
        while True:
            await self.renew(channel, queue, reply_to())
            await asyncio.sleep(self.interval())
