"""A run given up (`Publisher.withdraw`, run leases) publishes nothing more: not its queued
events, and not a message of it that waits to be sent again after a lost connection (found
when the lease test's cut link brought a token back after the run's `run_end`)."""

import asyncio
from typing import Any

import pytest
from switchboard_events import BrokerSettings, Names, Publisher, PublishFailed, make_event

pytestmark = pytest.mark.timeout(10)


class LostLink:
    """Channel stand-in: the first publish dies with the connection; `ready()` (the robust
    channel coming back) waits until the test says so."""

    def __init__(self) -> None:
        self.publishes = 0
        self.back = asyncio.Event()
        self.waiting = asyncio.Event()

    async def get_exchange(self, name: str) -> Any:
        return type("Exchange", (), {"name": name})()

    async def get_underlay_channel(self) -> "LostLink":
        return self

    async def basic_publish(self, body: bytes, **_: Any) -> None:
        self.publishes += 1
        if self.publishes == 1:
            raise ConnectionError("connection lost before the confirm")

    async def ready(self) -> None:
        self.waiting.set()
        await self.back.wait()


async def _lost_then_withdrawn(run_id: str, withdrawn: str) -> tuple[LostLink, Any]:
    """A token of `run_id` whose publish was lost; `withdrawn` given up while it waits to be
    sent again; then the link comes back. The link and the token's confirm future."""
    link = LostLink()
    settings = BrokerSettings(PUBLISH_RETRY_S=5)
    publisher = await Publisher(link, Names(), settings).start()  # type: ignore[arg-type]
    token = make_event("token", {"token": "t1 "}, session_id="s1", run_id=run_id, seq=1)
    sent = publisher.enqueue(token)
    await link.waiting.wait()  # the publish was lost; the lane waits for the link
    publisher.withdraw("s1", withdrawn)
    link.back.set()
    return link, sent


async def test_a_message_waiting_to_be_resent_is_dropped_when_its_run_is_withdrawn() -> None:
    link, sent = await _lost_then_withdrawn("r1", withdrawn="r1")
    with pytest.raises(PublishFailed, match="withdrawn"):
        await sent
    assert link.publishes == 1, "the withdrawn run's message was sent again"


async def test_other_runs_are_still_sent_again() -> None:
    link, sent = await _lost_then_withdrawn("r2", withdrawn="another-run")
    await sent
    assert link.publishes == 2
