"""One writer per run: numbers a run's events 1, 2, 3... and publishes them in order."""

import asyncio
from collections import deque
from typing import Any

from switchboard_protocol import Event, make_event

from .publisher import Publisher


class RunStream:
    """Emits the events of one run with `seq` numbering and bounded unconfirmed backlog."""

    def __init__(
        self,
        publisher: Publisher,
        *,
        session_id: str,
        run_id: str,
        agent_type: str = "personal",
        max_unconfirmed: int = 2048,
        start_seq: int = 0,
    ) -> None:
        self._publisher = publisher
        self.session_id = session_id
        self.run_id = run_id
        self.agent_type = agent_type
        self.seq = start_seq
        self._max = max_unconfirmed
        self._unconfirmed: deque[asyncio.Future[None]] = deque()

    async def emit(self, event_type: str, data: dict[str, Any], **envelope: Any) -> Event:
        """Publish the run's next event; waits only when too many are unconfirmed."""
        self.seq += 1
        event = make_event(
            event_type,
            data,
            session_id=self.session_id,
            run_id=self.run_id,
            seq=self.seq,
            agent_type=self.agent_type,
            **envelope,
        )
        self._unconfirmed.append(self._publisher.enqueue(event))
        await self._trim()
        return event

    async def _trim(self) -> None:
        while self._unconfirmed and (
            self._unconfirmed[0].done() or len(self._unconfirmed) > self._max
        ):
            await self._unconfirmed.popleft()  # raises PublishFailed on a nack

    async def drain(self) -> None:
        """Wait until every emitted event is confirmed; raises PublishFailed if one was not."""
        while self._unconfirmed:
            await self._unconfirmed.popleft()
