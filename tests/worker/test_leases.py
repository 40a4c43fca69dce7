"""The worker's side of run leases (lease.py), without a broker: a run whose renewals are not
confirmed within the lease is given up, a reply naming a run gives it up, renewals name every
held run."""

import asyncio
import json
from typing import Any

import pytest
from switchboard_events.routing import LEASE_RENEWAL
from switchboard_orchestrator.lease import Leases

pytestmark = pytest.mark.timeout(10)


class Exchange:
    """A default exchange whose publishes are confirmed, or never (a stalled link)."""

    def __init__(self, confirms: bool) -> None:
        self.confirms = confirms
        self.sent: list[tuple[Any, str]] = []

    async def publish(self, message: Any, routing_key: str) -> None:
        self.sent.append((message, routing_key))
        if not self.confirms:
            await asyncio.Event().wait()


class Channel:
    def __init__(self, confirms: bool) -> None:
        self.default_exchange = Exchange(confirms)


def leases(renew_s: float) -> tuple[Leases, asyncio.Queue[str]]:
    lost: asyncio.Queue[str] = asyncio.Queue()
    return Leases("w-1", renew_s, lost.put_nowait), lost


async def test_a_run_with_no_confirmed_renewal_within_the_lease_is_given_up() -> None:
    # A 0.3 s lease (shipped: 10 s) so the test takes a moment; the rule is the same.
    keeper, lost = leases(renew_s=0.1)
    keeper.hold("r-1", lease_s=0.3)
    channel = Channel(confirms=False)
    task = asyncio.create_task(keeper.run(channel, "ai.run-progress", lambda: "reply-q"))  # type: ignore[arg-type]
    try:
        assert await asyncio.wait_for(lost.get(), 5) == "r-1"
    finally:
        task.cancel()
    message, queue = channel.default_exchange.sent[0]
    assert queue == "ai.run-progress" and message.type == LEASE_RENEWAL
    assert message.reply_to == "reply-q"
    assert json.loads(message.body) == {"worker": "w-1", "runs": ["r-1"]}


async def test_confirmed_renewals_keep_the_run() -> None:
    keeper, lost = leases(renew_s=0.05)
    keeper.hold("r-1", lease_s=0.3)
    channel = Channel(confirms=True)
    task = asyncio.create_task(keeper.run(channel, "q", lambda: "reply-q"))  # type: ignore[arg-type]
    try:
        while len(channel.default_exchange.sent) < 12:  # > 2 leases' worth of renewals
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
    assert lost.empty()


def test_a_reply_gives_up_only_the_held_runs_it_names() -> None:
    keeper, lost = leases(renew_s=3)
    keeper.hold("r-1", lease_s=10)
    keeper.hold("r-2", lease_s=10)
    keeper.on_reply(b'{"lost": ["r-2", "r-9"]}')
    keeper.on_reply(b"not json")
    assert lost.get_nowait() == "r-2" and lost.empty()
    keeper.release("r-1")
    keeper.expire()
    assert lost.empty()


def test_renewals_come_thrice_per_shortest_lease_held() -> None:
    """The lease comes with each run request (the session service's RUN_LEASE_S): a shorter
    one than RUN_LEASE_RENEW_S allows is still renewed in time."""
    keeper, _ = leases(renew_s=3)
    assert keeper.interval() == 3
    keeper.hold("r-1", lease_s=30)
    keeper.hold("r-2", lease_s=6)
    assert keeper.interval() == 2
    keeper.release("r-2")
    assert keeper.interval() == 3
