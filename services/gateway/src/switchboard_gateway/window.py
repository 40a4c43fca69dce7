"""The ack window of an `ack=client` connection: events sent and not yet acked by the device."""

import asyncio
from collections import deque

from aio_pika.abc import AbstractIncomingMessage


class UnknownEvent(KeyError):
    """An ack for an id that is not waiting for one."""


class AckWindow:
    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: deque[tuple[int, str, AbstractIncomingMessage | None]] = deque()
        self._seq_of: dict[str, int] = {}
        self._next = 0
        self._released: deque[str] = deque(maxlen=size)
        self._released_set: set[str] = set()
        self.room = asyncio.Event()
        self.room.set()

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, event_id: str, completes: AbstractIncomingMessage | None) -> None:
        """Record a sent event; `completes` is its message when it was the message's last event."""
        self._next += 1
        self._entries.append((self._next, event_id, completes))
        self._seq_of[event_id] = self._next
        if len(self._entries) >= self.size:
            self.room.clear()

    def pending(self, event_id: str) -> bool:
        """Whether `event_id` was sent and is not acked yet."""
        return event_id in self._seq_of

    def ack(self, event_id: str) -> list[AbstractIncomingMessage]:
        """Release everything up to `event_id`; the messages now wholly acked, oldest first."""
        seq = self._seq_of.get(event_id)
        if seq is None:
            if event_id in self._released_set:
                return []
            raise UnknownEvent(event_id)
        done: list[AbstractIncomingMessage] = []
        while self._entries and self._entries[0][0] <= seq:
            _, eid, message = self._entries.popleft()
            if self._seq_of.get(eid, seq + 1) <= seq:
                del self._seq_of[eid]
            self._remember(eid)
            if message is not None:
                done.append(message)
        if len(self._entries) < self.size:
            self.room.set()
        return done

    def _remember(self, event_id: str) -> None:
        """Keep the last `size` released ids, so a repeated ack is harmless."""
        if len(self._released) == self._released.maxlen:
            self._released_set.discard(self._released[0])
        self._released.append(event_id)
        self._released_set.add(event_id)
