"""Per-run `seq` tracking: a jump means events were lost (device buffer overflow)."""

from collections import OrderedDict


class SeqTracker:
    """The last `seq` seen of the most recent `capacity` runs."""

    def __init__(self, capacity: int = 256) -> None:
        self.capacity = capacity
        self._last: OrderedDict[str, int] = OrderedDict()

    def is_hole(self, run_id: str, seq: int, *, resumed: bool) -> bool:
        """True when events before `seq` of `run_id` were never seen.

        A run first seen mid-way is a hole only on a resumed buffer: a fresh device joining
        a running run legitimately starts in the middle (it loads history over REST).
        """
        last = self._last.get(run_id)
        if last is None:
            return seq > 1 and resumed
        return seq > last + 1

    def record(self, run_id: str, seq: int) -> None:
        self._last[run_id] = max(seq, self._last.get(run_id, 0))
        self._last.move_to_end(run_id)
        while len(self._last) > self.capacity:
            self._last.popitem(last=False)
