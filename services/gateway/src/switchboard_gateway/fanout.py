"""The fan-out: every shard's feed hands each batch here, and each event goes to the local
subscriptions of its session, with its cursor spliced in (the text is built once per event,
whatever the number of devices). `subscribe` is the one way in, for WebSockets and AG-UI
streams alike (join.py says where a subscription starts)."""

import asyncio
from collections.abc import Awaitable, Callable

from switchboard_events import Names
from switchboard_protocol import CatchUpReply

from .feed import PublishMark, ShardFeed
from .history import History
from .join import join
from .lines import frame_of
from .replay import Batch, ReplayRing
from .settings import GatewaySettings
from .subscription import Subscription

CatchUp = Callable[[str], Awaitable[CatchUpReply]]
"""The session service's catch-up answer for a session (control.py)."""


class FanOut:
    def __init__(
        self,
        settings: GatewaySettings,
        names: Names,
        catch_up: CatchUp,
        publish_mark: PublishMark,
    ) -> None:
        self.settings = settings
        self.shards = settings.stream_shards
        self.ring = ReplayRing(settings.replay_ring_bytes)
        self.history = History(self.ring, settings.broker_urls, names)
        self.catch_up = catch_up
        urls = settings.broker_urls
        self.feeds = [
            ShardFeed(urls, names, k, self.ring, self.dispatch, publish_mark)
            for k in range(self.shards)
        ]
        self._subscribers: dict[str, list[Subscription]] = {}

    async def start(self) -> None:
        """Read every shard from its end, then learn each one's current offset (the reader's
        anchor mark, or one of ours), so that a connect does not wait for one."""
        await asyncio.gather(*(feed.start() for feed in self.feeds))
        timeout = self.settings.catchup_timeout_s
        await asyncio.gather(*(feed.high(timeout) for feed in self.feeds))

    async def close(self) -> None:
        await asyncio.gather(*(feed.close() for feed in self.feeds), return_exceptions=True)
        await self.history.close()

    @property
    def healthy(self) -> bool:
        """Whether every shard's feed is connected (a lost one reconnects by itself)."""
        return all(feed.connected for feed in self.feeds)

    @property
    def subscriptions(self) -> int:
        return sum(len(subs) for subs in self._subscribers.values())

    async def subscribe(
        self,
        session_id: str,
        cursor: str | None,
        idle: bool = False,
        idle_at: tuple[int, int] | None = None,
    ) -> Subscription:
        """A subscription to the session's events after `cursor` (or after the catch-up state
        when it has none, or when its events are gone); raises TimeoutError when the stream or
        the session service does not answer in time. `idle`: the session had no run in
        progress a moment ago (a catch-up that does not come is then not waited for).
        `idle_at`: (shard, position), the session had no run in progress as of that offset
        (the device check read it): that is the catch-up state, not asked for again."""
        sub = Subscription(session_id, self.settings.outbound_max_bytes, self._leave)
        self._subscribers.setdefault(session_id, []).append(sub)
        try:
            await join(self, sub, cursor, idle, idle_at)
        except BaseException:
            await sub.close()
            raise
        return sub

    def _leave(self, sub: Subscription) -> None:
        subs = self._subscribers.get(sub.session_id)
        if subs is None:
            return
        if sub in subs:
            subs.remove(sub)
        if not subs:
            del self._subscribers[sub.session_id]

    def dispatch(self, shard: int, batch: Batch) -> None:
        """Each event of `batch` to its session's subscriptions here, in order."""
        subscribers = self._subscribers
        for index, session_id in enumerate(batch.sessions):
            if session_id is None:
                continue
            subs = subscribers.get(session_id)
            if not subs:
                continue
            frame = frame_of(shard, batch.offset, index, batch.lines[index])
            position = (batch.offset, index)
            for sub in subs:
                sub.push(position, frame)
