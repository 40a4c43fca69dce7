"""The SSE `id:` of an AG-UI stream: where a client stands in one run, for `Last-Event-ID`.

`<client_id>.<run_id>.<seq>.<chars>.<open>.<calls>.<results>.<notices>`: the device whose
buffer the stream reads, the run, the last of its events the client has (its `seq`), how many
characters of the run's text it has, whether its text message is open (1) or not (0), how many
of the run's tool calls it has, which of those calls' results (a bit per call, in hex), and how
many of its notices (`agent_switch`, `warning`, `error`). Clients treat it as opaque."""

import re
from dataclasses import dataclass, replace

from switchboard_protocol import InvalidName, check_name

_RUN_ID = re.compile(r"^[0-9A-Za-z_-]{1,64}$")
MAX_CURSOR_CHARS = 300


class BadCursor(ValueError):
    """A `Last-Event-ID` this gateway did not write."""


@dataclass(frozen=True, slots=True)
class Cursor:
    client_id: str
    run_id: str
    seq: int = 0
    chars: int = 0
    open: bool = False
    calls: int = 0
    results: int = 0
    """Bit i: the result of the run's call i (in call order)."""
    notices: int = 0

    def __str__(self) -> str:
        head = f"{self.client_id}.{self.run_id}.{self.seq}.{self.chars}.{int(self.open)}"
        return f"{head}.{self.calls}.{self.results:x}.{self.notices}"

    def after(self, seq: int, chars: int, open_: bool) -> "Cursor":
        return replace(self, seq=max(self.seq, seq), chars=chars, open=open_)

    def has_result(self, index: int) -> bool:
        return bool(self.results >> index & 1)


def parse(text: str) -> Cursor:
    """The cursor written as `text`, or BadCursor naming what is wrong."""
    parts = text.strip().split(".")
    if len(text) > MAX_CURSOR_CHARS or len(parts) != 8:
        raise BadCursor("Last-Event-ID is not an id of this stream")
    client_id, run_id, seq, chars, open_, calls, results, notices = parts
    try:
        check_name(client_id, "client_id")
    except InvalidName as exc:
        raise BadCursor(f"Last-Event-ID: {exc}") from exc
    if not _RUN_ID.match(run_id):
        raise BadCursor("Last-Event-ID: not a run id")
    numbers = (seq, chars, calls, notices)
    if not (all(n.isdigit() for n in numbers) and open_ in ("0", "1")):
        raise BadCursor("Last-Event-ID: seq, chars, open, calls and notices must be numbers")
    try:
        mask = int(results, 16)
    except ValueError:
        raise BadCursor("Last-Event-ID: results must be hexadecimal") from None
    return Cursor(
        client_id, run_id, int(seq), int(chars), open_ == "1", int(calls), mask, int(notices)
    )
