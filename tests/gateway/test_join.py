"""The join without gap or duplicate (join.py), the replay ring and the subscription's bound,
against an in-memory shard: no broker, every interleaving chosen by the test."""

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from switchboard_events import make_event
from switchboard_events.codec import encode
from switchboard_gateway.history import History
from switchboard_gateway.join import join
from switchboard_gateway.lines import Frame, frame_of, session_of
from switchboard_gateway.replay import Batch, ReplayRing
from switchboard_gateway.subscription import LAST_INDEX, SlowConsumer, Subscription
from switchboard_protocol import CatchUpReply

pytestmark = pytest.mark.timeout(10)
SHARDS = 1


def _line(session_id: str, n: int) -> bytes:
    return encode(make_event("token", {"token": f"t{n}"}, session_id=session_id, run_id="r"))


@dataclass
class FakeShard:
    """A shard stream in memory: offsets from 0, what a feed read so far, a ring over it."""

    ring: ReplayRing
    stream: list[list[bytes] | None] = field(default_factory=list)
    """Every message by offset: a batch's lines, or None for a mark."""
    read: int = -1
    subs: list[Subscription] = field(default_factory=list)
    position: int = -1
    """The catch-up answer's position."""

    @property
    def last_offset(self) -> int | None:
        return self.read if self.read >= 0 else None

    def publish(self, lines: list[bytes] | None) -> int:
        self.stream.append(lines)
        return len(self.stream) - 1

    def feed(self) -> None:
        """The feed reads everything published: into the ring, out to subscriptions."""
        while self.read < len(self.stream) - 1:
            self.read += 1
            lines = self.stream[self.read]
            if lines is None:
                self.ring.seen(0, self.read)
                continue
            batch = Batch.read(self.read, lines)
            self.ring.add(0, batch)
            for index, sid in enumerate(batch.sessions):
                for sub in self.subs:
                    if sid == sub.session_id:
                        sub.push((self.read, index), frame_of(0, self.read, index, lines[index]))

    async def high(self, timeout: float) -> int:
        return self.read if self.read >= 0 else await self.sync(timeout)

    async def sync(self, timeout: float) -> int:
        offset = self.publish(None)
        self.feed()
        return offset

    async def range(self, first: int, last: int) -> AsyncIterator[tuple[int, list[bytes]]]:
        for offset in range(first, min(last, len(self.stream) - 1) + 1):
            lines = self.stream[offset]
            if lines is not None:
                yield offset, lines


@pytest.fixture(autouse=True)
def _stream_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """`read_range` reads the FakeShard passed as its `urls`."""

    async def read_range(shard: FakeShard, *args: Any) -> AsyncIterator[tuple[int, list[bytes]]]:
        async for item in shard.range(args[2], args[3]):
            yield item

    async def source(history: History) -> Any:
        return history._urls  # the FakeShard

    monkeypatch.setattr("switchboard_gateway.history.read_range", read_range)
    monkeypatch.setattr(History, "_source", source)


def _fanout(shard: FakeShard) -> Any:
    history = History(shard.ring, shard, None)  # type: ignore[arg-type]

    async def catch_up(session_id: str) -> CatchUpReply:
        return CatchUpReply(active_run=None, position=shard.position)

    settings = SimpleNamespace(catchup_timeout_s=1.0)
    return SimpleNamespace(
        shards=SHARDS, feeds=[shard], settings=settings, history=history, catch_up=catch_up
    )


async def _subscribe(shard: FakeShard, sid: str, cursor: str | None) -> Subscription:
    sub = Subscription(sid, 1 << 20, lambda s: None)
    shard.subs.append(sub)
    await join(_fanout(shard), sub, cursor)
    return sub


async def _drain(sub: Subscription) -> list[Frame]:
    got: list[Frame] = []
    while True:
        frames = await sub.frames(timeout=0.01)
        if not frames:
            return got
        got.extend(frames)


def _tokens(frames: list[Frame]) -> list[str]:
    return [json.loads(f.text)["data"]["token"] for f in frames]


@pytest.mark.parametrize("ring_bytes", [1 << 20, 0])
async def test_a_cursor_resumes_with_what_it_missed_then_live(ring_bytes: int) -> None:
    """From the ring or (ring 0 bytes) from the stream: exactly the events after the cursor,
    also those published between the registration and the replay."""
    shard = FakeShard(ReplayRing(ring_bytes))
    sid, other = "s1", "s2"
    shard.publish([_line(sid, 1), _line(other, 1), _line(sid, 2)])
    shard.publish([_line(sid, 3)])
    shard.feed()
    first = await _subscribe(shard, sid, None)
    seen = await _drain(first)
    assert _tokens(seen) == ["t1", "t2", "t3"]
    cursor = seen[1].cursor  # the device processed t2, then dropped
    await first.close()
    shard.publish([_line(sid, 4), _line(other, 2)])
    shard.feed()
    again = await _subscribe(shard, sid, cursor)
    shard.publish([_line(sid, 5)])  # live while the replay is pending
    shard.feed()
    assert again.recovered and again.active_run is None
    assert _tokens(await _drain(again)) == ["t3", "t4", "t5"]


async def test_live_events_up_to_hi_are_not_sent_twice() -> None:
    """Events the feed reads after the registration and before `hi` is taken are in the replay
    and in the live buffer: sent once."""
    shard = FakeShard(ReplayRing(1 << 20))
    sid = "s1"
    shard.publish([_line(sid, 1)])
    shard.feed()
    sub = Subscription(sid, 1 << 20, lambda s: None)
    shard.subs.append(sub)
    shard.publish([_line(sid, 2)])
    shard.feed()  # registered, before the join took hi
    await join(_fanout(shard), sub, None)
    assert _tokens(await _drain(sub)) == ["t1", "t2"]


async def test_catch_up_position_ahead_of_the_feed_skips_what_it_covers() -> None:
    shard = FakeShard(ReplayRing(1 << 20))
    sid = "s1"
    shard.publish([_line(sid, 1)])
    shard.feed()
    shard.publish([_line(sid, 2)])  # stored and folded, not read by this feed yet
    shard.position = 1
    sub = await _subscribe(shard, sid, None)
    shard.publish([_line(sid, 3)])
    shard.feed()
    assert _tokens(await _drain(sub)) == ["t3"]


@pytest.mark.parametrize("how", ["tag", "future", "shard", "garbage", "expired"])
async def test_a_cursor_not_recovered_starts_from_the_catch_up(how: str) -> None:
    shard = FakeShard(ReplayRing(0))
    sid = "s1"
    shard.publish([_line(sid, 1)])
    shard.publish([_line(sid, 2)])
    shard.feed()
    tag = json.loads(_line(sid, 0))["id"][-8:]
    cursor = {
        "tag": f"0.0.0.{tag}",
        "future": "0.99.0.abc",
        "shard": "3.0.0.abc",
        "garbage": "not a cursor",
        "expired": "0.0.0.x",
    }[how]
    if how == "expired":
        shard.stream[0] = None  # retention dropped offset 0
    shard.position = 0
    sub = await _subscribe(shard, sid, cursor)
    assert not sub.recovered
    assert sub.invalid_cursor == (how == "garbage")
    assert _tokens(await _drain(sub)) == ["t2"]


async def test_overflow_raises_slow_consumer() -> None:
    sub = Subscription("s1", 1024, lambda s: None)
    sub.begin((0, LAST_INDEX), None)
    for offset in range(1, 20):
        sub.push((offset, 0), Frame("c", "x" * 100, ""))
    with pytest.raises(SlowConsumer):
        await sub.frames()


async def test_ring_evicts_oldest_over_all_shards_and_says_what_it_covers() -> None:
    ring = ReplayRing(100)
    ring.add(0, Batch(5, [b"x" * 60], [None], 60))
    ring.add(1, Batch(7, [b"y" * 30], [None], 30))
    assert ring.covers(0, 5) and ring.covers(1, 7) and not ring.covers(0, 4)
    ring.add(0, Batch(6, [b"z" * 30], [None], 30))
    assert not ring.covers(0, 5) and ring.covers(0, 6) and ring.size == 60
    assert [b.offset for b in ring.between(0, 0, 10)] == [6]


def test_session_of_reads_the_top_level_field() -> None:
    line = encode(
        make_event("token", {"token": "x"}, session_id="abc", metadata={"session_id": "z"})
    )
    assert session_of(line) == "abc"
    assert session_of(b'{"type":"x","session_id":"q","id":"1"}') == "q"
    assert session_of(b"not json") is None


async def test_an_unanswered_catch_up_joins_an_idle_session_live_and_refuses_a_busy_one() -> None:
    shard = FakeShard(ReplayRing(1 << 20))
    shard.publish([_line("s1", 1)])
    shard.feed()
    fanout = _fanout(shard)

    async def silent(session_id: str) -> CatchUpReply:
        raise TimeoutError

    fanout.catch_up = silent
    busy = Subscription("s1", 1 << 20, lambda s: None)
    with pytest.raises(TimeoutError):
        await join(fanout, busy, None, idle=False)
    idle = Subscription("s1", 1 << 20, lambda s: None)
    shard.subs.append(idle)
    await join(fanout, idle, None, idle=True)
    shard.publish([_line("s1", 2)])
    shard.feed()
    assert not idle.recovered and idle.active_run is None
    assert _tokens(await _drain(idle)) == ["t2"]  # live from where the feed was


@pytest.mark.parametrize("ring_bytes", [1 << 20, 0])
async def test_the_device_checks_idle_at_is_the_catch_up_and_none_is_asked(ring_bytes: int) -> None:
    """A device check that read the session with no run in progress as of offset 0 (`idle_at`):
    the subscription starts there without asking, replays what the feed read after it (from
    the ring or the stream), then live; an `idle_at` of another shard is not used."""
    shard = FakeShard(ReplayRing(ring_bytes))
    sid = "s1"
    shard.publish([_line(sid, 1)])  # offset 0: stored and folded when the device was checked
    shard.publish([_line(sid, 2)])  # read by the feed, not stored yet
    shard.feed()
    fanout = _fanout(shard)
    asked: list[str] = []

    async def catch_up(session_id: str) -> CatchUpReply:
        asked.append(session_id)
        return CatchUpReply(active_run=None, position=shard.position)

    fanout.catch_up = catch_up
    sub = Subscription(sid, 1 << 20, lambda s: None)
    shard.subs.append(sub)
    await join(fanout, sub, None, idle=True, idle_at=(0, 0))
    shard.publish([_line(sid, 3)])
    shard.feed()
    assert asked == [] and sub.start == "idle"
    assert not sub.recovered and sub.active_run is None
    assert _tokens(await _drain(sub)) == ["t2", "t3"]
    elsewhere = Subscription(sid, 1 << 20, lambda s: None)
    shard.subs.append(elsewhere)
    await join(fanout, elsewhere, None, idle=True, idle_at=(1, 0))
    assert asked == [sid] and elsewhere.start == "catch_up"
    assert _tokens(await _drain(elsewhere)) == ["t1", "t2", "t3"]  # from the answer's -1
