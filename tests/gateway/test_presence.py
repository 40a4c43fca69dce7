"""Presence over replicas (presence.py) on an in-memory `ai.control`: counts add up over the
peers that beat, a peer that said bye or stopped beating is not waited for."""

import json
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from switchboard_gateway import presence
from switchboard_gateway.presence import Presence

pytestmark = pytest.mark.timeout(10)


class Bus:
    """Every replica hears every `ai.control` message; replies go to the asker only."""

    def __init__(self) -> None:
        self.members: dict[str, Presence] = {}

    def join(self, name: str, counts: dict[str, int]) -> Presence:
        member = Presence(name, lambda user: counts.get(user, 0))
        self.members[name] = member
        return member

    def publisher(self, name: str) -> Callable[..., Any]:
        async def publish(key: str, body: dict[str, object], correlation: str | None) -> None:
            for member in list(self.members.values()):
                member.heard(_message(key, body, correlation, reply_to=name))

        return publish

    def replier(self) -> Callable[..., Any]:
        async def reply(to: str, correlation: str, body: dict[str, object]) -> None:
            self.members[to].heard(_message(to, body, correlation))

        return reply


def _message(key: str, body: dict[str, object], correlation: str | None, reply_to: str = "") -> Any:
    return SimpleNamespace(
        routing_key=key,
        body=json.dumps(body).encode(),
        correlation_id=correlation,
        reply_to=reply_to,
    )


async def _started(bus: Bus, name: str, counts: dict[str, int]) -> Presence:
    member = bus.join(name, counts)
    await member.start(bus.publisher(name), bus.replier())
    return member


async def test_counts_add_up_over_every_replica_that_beats() -> None:
    bus = Bus()
    a = await _started(bus, "a", {"carol": 1})
    b = await _started(bus, "b", {"carol": 2, "dave": 1})
    assert a.peers() == {"b"}  # a heard b's first beat; b heard nothing of a before it joined
    assert await a.count("carol") == 3
    assert await a.count("nobody") == 0
    assert await b.count("carol") == 3  # b learnt of a from a's query
    await b.close()
    assert a.peers() == set()
    assert await a.count("carol") == 1
    await a.close()


async def test_a_silent_peer_costs_one_answer_wait_at_most(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(presence, "ANSWER_S", 0.05)
    bus = Bus()
    a = await _started(bus, "a", {"carol": 1})
    b = await _started(bus, "b", {"carol": 5})
    del bus.members["b"]  # gone without a bye
    assert await a.count("carol") == 1
    await a.close()
    await b.close()
