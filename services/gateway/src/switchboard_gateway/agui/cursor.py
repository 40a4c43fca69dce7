"""The SSE `id:` of an AG-UI stream, for `Last-Event-ID`: `<position>~<run state>`.

- `<position>`: the stream cursor (`switchboard_protocol.cursor`) of the last session event the
  stream had mapped when it wrote this SSE event, or `-` before it mapped any (a stream's
  opening events, built from the catch-up state). A resume replays the session's events after
  it, on any replica.
- `<run state>`: what the mapper knows of the client's view of one run, to go on from there:
  `<client_id>.<run_id>.<seq>.<chars>.<open>.<calls>.<results>.<notices>.<done>`: the device,
  the run, the last of the run's events the client has (its `seq`), how many characters of the
  run's text it has, whether its text message is open (1) or not (0), how many of the run's
  tool calls it has, which of those calls' results (a bit per call, in hex), how many of its
  notices (`agent_switch`, `warning`, `error`), and whether it has the run's end (1: a resume
  goes on with the session's next run, as a `GET` does). When the position cannot be recovered (past
  retention, another stream), the run state alone says what to send from the catch-up state
  or storage.

Clients treat the id as opaque; one this gateway did not write is refused (`BadEventId`)."""

import re
from dataclasses import dataclass, replace

from switchboard_protocol import InvalidName, check_name
from switchboard_protocol.cursor import parse_cursor

_RUN_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")
_RESULTS = re.compile(r"[0-9a-f]{1,64}")
MAX_ID_CHARS = 360
NO_POSITION = "-"


class BadEventId(ValueError):
    """A `Last-Event-ID` this gateway did not write."""


@dataclass(frozen=True, slots=True)
class RunState:
    """The client's view of one run (see the module)."""

    client_id: str
    run_id: str
    seq: int = 0
    chars: int = 0
    open: bool = False
    calls: int = 0
    results: int = 0
    """Bit i: the result of the run's call i (in call order)."""
    notices: int = 0
    done: bool = False
    """The client has the run's end (`RUN_FINISHED` or `RUN_ERROR`)."""

    def __str__(self) -> str:
        head = f"{self.client_id}.{self.run_id}.{self.seq}.{self.chars}.{int(self.open)}"
        return f"{head}.{self.calls}.{self.results:x}.{self.notices}.{int(self.done)}"

    def after(self, seq: int, chars: int, open_: bool) -> "RunState":
        return replace(self, seq=max(self.seq, seq), chars=chars, open=open_)

    def has_result(self, index: int) -> bool:
        return bool(self.results >> index & 1)


@dataclass(frozen=True, slots=True)
class EventId:
    position: str | None
    """The stream cursor of the last session event mapped; None before any."""
    state: RunState

    def __str__(self) -> str:
        return f"{self.position or NO_POSITION}~{self.state}"


def parse_id(text: str) -> EventId:
    """The id written as `text`, or BadEventId naming what is wrong."""
    position, sep, state = text.strip().partition("~")
    if len(text) > MAX_ID_CHARS or not sep:
        raise BadEventId("Last-Event-ID is not an id of this stream")
    if position != NO_POSITION:
        try:
            parse_cursor(position)
        except ValueError:
            raise BadEventId("Last-Event-ID: not a stream position") from None
    return EventId(None if position == NO_POSITION else position, _state(state))


def _state(text: str) -> RunState:
    parts = text.split(".")
    if len(parts) != 9:
        raise BadEventId("Last-Event-ID is not an id of this stream")
    client_id, run_id, seq, chars, open_, calls, results, notices, done = parts
    try:
        check_name(client_id, "client_id")
    except InvalidName as exc:
        raise BadEventId(f"Last-Event-ID: {exc}") from exc
    if not _RUN_ID.fullmatch(run_id):
        raise BadEventId("Last-Event-ID: not a run id")
    numbers = (seq, chars, calls, notices)
    if not (all(n.isascii() and n.isdigit() and len(n) < 19 for n in numbers)):
        raise BadEventId("Last-Event-ID: seq, chars, calls and notices must be numbers")
    if open_ not in ("0", "1") or done not in ("0", "1"):
        raise BadEventId("Last-Event-ID: open and done must be 0 or 1")
    if not _RESULTS.fullmatch(results):
        raise BadEventId("Last-Event-ID: results must be hexadecimal")
    return RunState(
        client_id,
        run_id,
        int(seq),
        int(chars),
        open_ == "1",
        int(calls),
        int(results, 16),
        int(notices),
        done == "1",
    )
