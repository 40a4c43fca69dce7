"""The SSE `id:` of an AG-UI stream: where a client stands in one run, for `Last-Event-ID`.

`<client_id>.<run_id>.<seq>.<chars>.<open>`: the device whose buffer the stream reads, the run,
the last of its events the client has (its `seq`), how many characters of the run's text it has,
and whether its text message is open (1) or not (0). Clients treat it as opaque."""

import re
from dataclasses import dataclass, replace

from switchboard_protocol import InvalidName, check_name

_RUN_ID = re.compile(r"^[0-9A-Za-z_-]{1,64}$")
MAX_CURSOR_CHARS = 200


class BadCursor(ValueError):
    """A `Last-Event-ID` this gateway did not write."""


@dataclass(frozen=True, slots=True)
class Cursor:
    client_id: str
    run_id: str
    seq: int = 0
    chars: int = 0
    open: bool = False

    def __str__(self) -> str:
        return f"{self.client_id}.{self.run_id}.{self.seq}.{self.chars}.{int(self.open)}"

    def after(self, seq: int, chars: int, open_: bool) -> "Cursor":
        return replace(self, seq=max(self.seq, seq), chars=chars, open=open_)


def parse(text: str) -> Cursor:
    """The cursor written as `text`, or BadCursor naming what is wrong."""
    parts = text.strip().split(".")
    if len(text) > MAX_CURSOR_CHARS or len(parts) != 5:
        raise BadCursor("Last-Event-ID is not an id of this stream")
    client_id, run_id, seq, chars, open_ = parts
    try:
        check_name(client_id, "client_id")
    except InvalidName as exc:
        raise BadCursor(f"Last-Event-ID: {exc}") from exc
    if not _RUN_ID.match(run_id):
        raise BadCursor("Last-Event-ID: not a run id")
    if not (seq.isdigit() and chars.isdigit() and open_ in ("0", "1")):
        raise BadCursor("Last-Event-ID: seq, chars and open must be numbers")
    return Cursor(client_id, run_id, int(seq), int(chars), open_ == "1")
