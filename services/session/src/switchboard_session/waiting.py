"""Work each user has waiting in this process, capped per user (one user's waits never take
what others need: database connections, the gateway's upstream connections)."""

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from .errors import ApiError

MAX_WAITING = 32
"""Requests of all users together waiting on ingest, per replica: a third of the gateway's
default UPSTREAM_CONNECTIONS (100) at most, whoever floods."""


class PerUser:
    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()

    def __len__(self) -> int:
        return sum(self._counts.values())

    @contextmanager
    def hold(self, user_id: str, cap: int, total: int, refusal: ApiError) -> Iterator[None]:
        """One more of `user_id`'s for the block; `refusal` raised at once when the user has
        `cap` already, or everyone together `total`."""
        if self._counts[user_id] >= cap or len(self) >= total:
            raise refusal
        self._counts[user_id] += 1
        try:
            yield
        finally:
            self._counts[user_id] -= 1
            if self._counts[user_id] <= 0:
                del self._counts[user_id]
