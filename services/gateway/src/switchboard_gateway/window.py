"""The ack window of an `ack=client` connection: events sent and not yet acked by the device.

An idle device holds no events, so the containers and the waiter are made on first use: a
window costs a few hundred bytes until events flow (thousands of idle devices per process).
"""

import asyncio
from collections import deque

from aio_pika.abc import AbstractIncomingMessage

Entry = tuple[int, str, AbstractIncomingMessage | None]


class UnknownEvent(KeyError):
    """An ack for an id that is not waiting for one."""


class AckWindow:
    __slots__ = ("_entries", "_next", "_released", "_released_set", "_room", "_seq_of", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: deque[Entry] | None = None
        self._seq_of: dict[str, int] = {}
        self._next = 0
        self._released: deque[str] | None = None
        self._released_set: set[str] | None = None
        self._room: asyncio.Future[None] | None = None

    def __len__(self) -> int:
        return len(self._entries) if self._entries is not None else 0

    @property
    def full(self) -> bool:
        return len(self) >= self.size

    async def wait_room(self) -> None:
        """Until an ack makes room (or `wake()`); returns at once when there is room."""
        if not self.full:
            return
        if self._room is None or self._room.done():
            self._room = asyncio.get_running_loop().create_future()
        await self._room

    def wake(self) -> None:
        """Release a waiting sender (the connection is stopping)."""
        if self._room is not None and not self._room.done():
            self._room.set_result(None)

    def add(self, event_id: str, completes: AbstractIncomingMessage | None) -> None:
        """Record a sent event; `completes` is its message when it was the message's last event."""
        if self._entries is None:
            self._entries = deque()
        self._next += 1
        self._entries.append((self._next, event_id, completes))
        self._seq_of[event_id] = self._next

    def pending(self, event_id: str) -> bool:
        """Whether `event_id` was sent and is not acked yet."""
        return event_id in self._seq_of

    def ack(self, event_id: str) -> list[AbstractIncomingMessage]:
        """Release everything up to `event_id`; the messages now wholly acked, oldest first."""
        seq = self._seq_of.get(event_id)
        if seq is None:
            if self._released_set is not None and event_id in self._released_set:
                return []
            raise UnknownEvent(event_id)
        entries = self._entries
        assert entries is not None
        done: list[AbstractIncomingMessage] = []
        while entries and entries[0][0] <= seq:
            _, eid, message = entries.popleft()
            if self._seq_of.get(eid, seq + 1) <= seq:
                del self._seq_of[eid]
            self._remember(eid)
            if message is not None:
                done.append(message)
        if not self.full:
            self.wake()
        return done

    def _remember(self, event_id: str) -> None:
        """Keep the last `size` released ids, so a repeated ack is harmless."""
        if self._released is None or self._released_set is None:
            self._released, self._released_set = deque(maxlen=self.size), set()
        if len(self._released) == self._released.maxlen:
            self._released_set.discard(self._released[0])
        self._released.append(event_id)
        self._released_set.add(event_id)
