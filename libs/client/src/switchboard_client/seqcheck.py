"""Per-run `seq` tracking: what each run event means for this device's view of its run."""

from collections import OrderedDict
from typing import Literal

Verdict = Literal["next", "covered", "seq_gap", "joined_mid_run"]
"""`next`: show it. `covered`: a catch-up already holds it (skip it). `seq_gap`: events before
it were lost. `joined_mid_run`: the device's first event of a run that began before it joined."""


class SeqTracker:
    """For the most recent `capacity` runs: the last `seq` seen and the catch-up floor."""

    def __init__(self, capacity: int = 256) -> None:
        self.capacity = capacity
        self._runs: OrderedDict[str, tuple[int, int]] = OrderedDict()
        """run_id → (last seq seen, seq up to which a catch-up covers the run)."""

    def check(self, run_id: str, seq: int, *, resumed: bool) -> Verdict:
        """Classify the event `seq` of `run_id` and record it.

        `resumed`: the connection continues after this device's cursor (`recovered`), with no
        gap, so a run first seen mid-way began before the cursor (a stream started from a saved
        cursor: the app handled its start) and is `next`. On a connection that is not
        recovered, the run began before the device joined (`joined_mid_run`, never silent).
        """
        last, floor = self._runs.get(run_id, (None, 0))
        if seq <= floor:
            return "covered"
        self._store(run_id, max(seq, last or 0), floor)
        if last is None:
            if seq == 1:
                return "next"
            return "next" if resumed else "joined_mid_run"
        return "seq_gap" if seq > last + 1 else "next"

    def catch_up(self, run_id: str, seq: int) -> bool:
        """A catch-up holds `run_id` up to `seq`: its events up to there are `covered` from now
        on. True when that is news (this device had not seen the run that far)."""
        last, floor = self._runs.get(run_id, (None, 0))
        self._store(run_id, max(seq, last or 0), max(seq, floor))
        return last is None or last < seq

    def _store(self, run_id: str, last: int, floor: int) -> None:
        self._runs[run_id] = (last, floor)
        self._runs.move_to_end(run_id)
        while len(self._runs) > self.capacity:
            self._runs.popitem(last=False)
