"""Who is connected, over every gateway replica: `GET /ai/stats` counts the caller's live
connections on all of them (docs/protocol.md).

Each replica beats on `ai.control` (`presence.beat`, every BEAT_S; `presence.bye` when it
stops), so every replica knows its peers (a peer silent for KEEP_BEATS beats is gone). A count
asks the peers (`presence.query` with this replica's reply queue) and waits for every known
peer's answer, at most ANSWER_S; its own count is exact. Nothing per connect."""

import asyncio
import itertools
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aio_pika.abc import AbstractIncomingMessage

log = logging.getLogger(__name__)

BEAT_S = 5.0
KEEP_BEATS = 3
ANSWER_S = 1.0
KIND = "presence"
BEAT, BYE, QUERY = "presence.beat", "presence.bye", "presence.query"
Publish = Callable[[str, dict[str, object], str | None], Awaitable[None]]
"""(routing key on ai.control, body, correlation id): publish with this replica's reply_to."""
Reply = Callable[[str, str, dict[str, object]], Awaitable[None]]
"""(reply_to queue, correlation id, body): answer a peer's query."""


@dataclass(eq=False)
class _Ask:
    peers: set[str]
    counts: dict[str, int] = field(default_factory=dict)
    done: asyncio.Event = field(default_factory=asyncio.Event)


class Presence:
    def __init__(self, me: str, own_count: Callable[[str], int]) -> None:
        self.me = me
        self._own_count = own_count
        self._publish: Publish | None = None
        self._reply: Reply | None = None
        self._peers: dict[str, float] = {}
        self._asks: dict[str, _Ask] = {}
        self._ids = itertools.count()
        self._task: asyncio.Task[None] | None = None
        self._replies: set[asyncio.Task[None]] = set()

    async def start(self, publish: Publish, reply: Reply) -> None:
        self._publish, self._reply = publish, reply
        await self._beat(BEAT)
        self._task = asyncio.create_task(self._beating())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
            try:
                await self._beat(BYE)
            except Exception as exc:  # noqa: BLE001 - peers forget us after KEEP_BEATS anyway
                log.debug("presence bye not sent: %r", exc)

    async def _beating(self) -> None:
        while True:
            await asyncio.sleep(BEAT_S)
            try:
                await self._beat(BEAT)
            except Exception as exc:  # noqa: BLE001 - the next beat tries again
                log.warning("presence beat not sent: %r", exc)

    async def _beat(self, key: str) -> None:
        assert self._publish is not None
        await self._publish(key, {"gateway": self.me}, None)

    def peers(self) -> set[str]:
        """The other replicas heard within KEEP_BEATS beats."""
        horizon = time.monotonic() - BEAT_S * KEEP_BEATS
        return {peer for peer, at in self._peers.items() if at >= horizon}

    async def count(self, user_id: str) -> int:
        """The user's live connections on every replica (a peer that does not answer within
        ANSWER_S counts 0)."""
        own = self._own_count(user_id)
        peers = self.peers()
        if not peers or self._publish is None:
            return own
        correlation = f"p{next(self._ids)}"
        ask = self._asks[correlation] = _Ask(peers)
        try:
            await self._publish(QUERY, {"gateway": self.me, "user_id": user_id}, correlation)
            async with asyncio.timeout(ANSWER_S):
                await ask.done.wait()
        except TimeoutError:
            log.info("presence: no answer from %s", sorted(peers - set(ask.counts)))
        finally:
            del self._asks[correlation]
        return own + sum(ask.counts.values())

    def heard(self, message: AbstractIncomingMessage) -> None:
        """A beat, bye, query or answer (control.py hands over `presence.*` and `p` replies)."""
        try:
            body = json.loads(message.body)
            peer = str(body["gateway"])
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed presence message %r", message.body[:200])
            return
        if peer == self.me:
            return
        key = message.routing_key or ""
        if key in (BEAT, QUERY):
            self._peers[peer] = time.monotonic()
        if key == BYE:
            self._peers.pop(peer, None)
        elif key == QUERY:
            self._answer(message, str(body.get("user_id")))
        elif message.correlation_id in self._asks:
            self._answered(self._asks[message.correlation_id], peer, body.get("count"))

    def _answer(self, message: AbstractIncomingMessage, user_id: str) -> None:
        if self._reply is None or not message.reply_to or not message.correlation_id:
            return
        body: dict[str, object] = {"gateway": self.me, "count": self._own_count(user_id)}
        answer = self._send_answer(message.reply_to, message.correlation_id, body)
        task = asyncio.create_task(answer)
        self._replies.add(task)
        task.add_done_callback(self._replies.discard)

    async def _send_answer(self, to: str, correlation: str, body: dict[str, object]) -> None:
        assert self._reply is not None
        try:
            await self._reply(to, correlation, body)
        except Exception as exc:  # noqa: BLE001 - the asker counts us 0 after ANSWER_S
            log.warning("presence answer not sent: %r", exc)

    @staticmethod
    def _answered(ask: _Ask, peer: str, count: object) -> None:
        if isinstance(count, int):
            ask.counts[peer] = count
        if ask.peers <= set(ask.counts):
            ask.done.set()
