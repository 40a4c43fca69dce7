"""One run's Switchboard events as AG-UI events (`RunMapper`), each with the SSE id a client
resumes from after it (cursor.py: the stream position and the client's view of the run).

- `token` → `TEXT_MESSAGE_START` (first one) and `TEXT_MESSAGE_CONTENT`; the run's one
  assistant text message has the run's id and stays open across its tool calls;
- `response` → `TEXT_MESSAGE_END`; `tool_call` → `TOOL_CALL_START`/`ARGS`/`END`;
  `tool_result` → `TOOL_CALL_RESULT`; `state` → `STATE_SNAPSHOT`/`STATE_DELTA`;
- `run_end` → `RUN_FINISHED` (completed; cancelled with the `cancelled` outcome) or
  `RUN_ERROR` (failed, with the run's `error` code and message); `session_end` → `RUN_ERROR`;
- voice, agent switches, status and warnings → `CUSTOM` named `switchboard.<type>`.
"""

import json
from dataclasses import replace
from typing import Any

from ag_ui.core import (
    BaseEvent,
    CustomEvent,
    RunErrorEvent,
    RunFinishedCancelledOutcome,
    RunFinishedEvent,
    RunStartedEvent,
    StateDeltaEvent,
    StateSnapshotEvent,
    TextMessageContentEvent,
    TextMessageEndEvent,
    TextMessageStartEvent,
    ToolCallArgsEvent,
    ToolCallEndEvent,
    ToolCallResultEvent,
    ToolCallStartEvent,
)
from ag_ui.encoder import EventEncoder

from .cursor import EventId, RunState

CUSTOM_TYPES = frozenset({"agent_switch", "tts", "stt", "thinking", "waiting", "warning", "error"})
"""Switchboard event types a stream passes on as `CUSTOM` `switchboard.<type>` (value: data)."""
NOTICE_TYPES = frozenset({"agent_switch", "warning", "error"})
"""The run's notices (kept in its stored state): counted in the run state, sent again to a resuming
client that lacks them."""
_ENCODER = EventEncoder()


def sse(event: BaseEvent, event_id: EventId) -> str:
    """One SSE event: its `id:` and the AG-UI encoder's `data:` line."""
    return f"id: {event_id}\n{_ENCODER.encode(event)}"


class RunMapper:
    """The AG-UI view of one run of the session `thread_id`, for a client whose view is
    `state` as of the session event at stream `position` (cursor.py)."""

    def __init__(self, thread_id: str, state: RunState, position: str | None = None) -> None:
        self.thread_id = thread_id
        self.state = state
        self.position = position
        """The stream cursor of the last session event mapped (None: none yet)."""
        self._prior = position
        """The position before the event being mapped (its SSE events but the last carry it)."""
        self._error: tuple[str, str] | None = None
        self._calls: dict[str, int] = {}
        """Each tool call's index in the run (its bit in the state's `results`)."""
        self._replied = False
        """The reply came whole from storage: its tokens and `response` arriving live are in it."""
        self._filled: list[tuple[str, str]] = []
        """Notices sent from the stored state that may still come live (sent once only)."""

    @property
    def run_id(self) -> str:
        return self.state.run_id

    @property
    def done(self) -> bool:
        """The run's end was sent: the stream is over."""
        return self.state.done

    def started(self) -> list[str]:
        """`RUN_STARTED`, and the open text message again for a client resuming inside it."""
        started = RunStartedEvent(thread_id=self.thread_id, run_id=self.run_id)
        out = [sse(started, self.event_id)]
        if self.state.open:
            out.append(sse(self._start(), self.event_id))
        return out

    def opened(self) -> list[str]:
        """The run's text message started for the live tail (a client joining mid-run)."""
        self.state = self.state.after(self.state.seq, self.state.chars, True)
        return [sse(self._start(), self.event_id)]

    def text(self, delta: str, seq: int) -> list[str]:
        """`delta` as the next text of the run's message (opened when needed), up to `seq`."""
        before = self.state
        events: list[BaseEvent] = []
        if delta and not before.open:
            events.append(self._start())
        if delta:
            events.append(TextMessageContentEvent(message_id=self.run_id, delta=delta))
        self.state = before.after(seq, before.chars + len(delta), before.open or bool(delta))
        return self._out(before, events)

    def tool_calls(self, calls: list[dict[str, Any]]) -> list[str]:
        """The calls (and results) of the run so far that the client lacks, from a catch-up's
        `tool_calls` or the stored conversation, in call order."""
        before = self.state
        events: list[BaseEvent] = []
        for index, call in enumerate(calls):
            call_id = str(call.get("call_id"))
            self._calls[call_id] = index
            done = "result" in call or call.get("error") is not None
            if index >= self.state.calls:
                events += _tool_call(
                    {**call, "requires_approval": not done and call.get("requires_approval")},
                    self.run_id,
                )
                self.state = replace(self.state, calls=index + 1)
            if done and not self.state.has_result(index):
                events.append(_tool_result(call))
                self.state = replace(self.state, results=self.state.results | 1 << index)
        return self._out(before, events)

    def notices(self, notices: list[dict[str, Any]]) -> list[str]:
        """The run's notices the client lacks, from its stored state."""
        before = self.state
        kept = [n for n in notices if n.get("type") in NOTICE_TYPES]
        events: list[BaseEvent] = []
        for notice in kept[before.notices :]:
            kind, data = str(notice["type"]), notice.get("data") or {}
            self._filled.append((kind, json.dumps(data, sort_keys=True)))
            events.append(CustomEvent(name=f"switchboard.{kind}", value=data))
        self.state = replace(before, notices=max(before.notices, len(kept)))
        return self._out(before, events)

    def reply(self, content: str) -> list[str]:
        """A reply that streamed no token, whole (from storage)."""
        if self.state.chars or not content:
            return []
        before = self.state
        self._replied = True
        return self._out(before, self._response(content))

    def map(self, event: dict[str, Any], position: str | None = None) -> list[str]:
        """The SSE events of one Switchboard event, the session event at stream `position`
        (none for other runs' events or those the client has: `seq` up to the state's)."""
        self._prior = self.position
        self.position = position or self.position
        try:
            return self._map(event)
        finally:
            self._prior = self.position

    def _map(self, event: dict[str, Any]) -> list[str]:
        kind = event.get("type")
        if self.done:
            return []
        if kind == "session_end":
            return self._end(RunErrorEvent(message="the session ended", code="session_ended"))
        seq = event.get("seq")
        if event.get("run_id") != self.run_id or not isinstance(seq, int):
            return []
        if seq <= self.state.seq:
            return []
        data = event.get("data") if isinstance(event.get("data"), dict) else {}
        assert isinstance(data, dict)
        if self._replied and kind in ("token", "response"):
            self.state = self.state.after(seq, self.state.chars, self.state.open)
            return []
        if kind == "token":
            return self.text(str(data.get("token", "")), seq)
        if kind == "run_end":
            return self._run_end(str(data.get("status")), seq)
        before = self.state
        events = self._translate(str(kind), data)
        self.state = self.state.after(seq, self.state.chars, self.state.open)
        return self._out(before, events)

    def _translate(self, kind: str, data: dict[str, Any]) -> list[BaseEvent]:
        if kind == "response":
            return self._response(str(data.get("content") or ""))
        if kind == "tool_call":
            self._calls[str(data.get("call_id"))] = self.state.calls
            self.state = replace(self.state, calls=self.state.calls + 1)
            return _tool_call(data, self.run_id)
        if kind == "tool_result":
            index = self._calls.get(str(data.get("call_id")))
            if index is not None:
                self.state = replace(self.state, results=self.state.results | 1 << index)
            return [_tool_result(data)]
        if kind == "state":
            return _state(data)
        if kind == "error":
            self._error = (str(data.get("code") or "error"), str(data.get("message") or ""))
        if kind in NOTICE_TYPES:
            key = (kind, json.dumps(data, sort_keys=True))
            if key in self._filled:
                self._filled.remove(key)
                return []
            self.state = replace(self.state, notices=self.state.notices + 1)
        if kind in CUSTOM_TYPES:
            return [CustomEvent(name=f"switchboard.{kind}", value=data)]
        return []

    def _response(self, content: str) -> list[BaseEvent]:
        """The reply is complete: its message ends (one that streamed no token comes whole)."""
        events: list[BaseEvent] = []
        chars = self.state.chars
        if not self.state.open and chars == 0 and content:
            events = [
                self._start(),
                TextMessageContentEvent(message_id=self.run_id, delta=content),
            ]
            chars = len(content)  # a resume must not send it again
        elif not self.state.open:
            return []
        self.state = self.state.after(self.state.seq, chars, False)
        return [*events, TextMessageEndEvent(message_id=self.run_id)]

    def _run_end(self, status: str, seq: int) -> list[str]:
        if status == "failed":
            code, message = self._error or ("run_failed", "the run failed")
            last: BaseEvent = RunErrorEvent(message=message or code, code=code)
        else:
            outcome = RunFinishedCancelledOutcome() if status == "cancelled" else None
            last = RunFinishedEvent(thread_id=self.thread_id, run_id=self.run_id, outcome=outcome)
        self.state = self.state.after(seq, self.state.chars, self.state.open)
        return self._end(last)

    def failed_with(self, error: tuple[str, str] | None) -> None:
        """The run's `error` (code, message), seen before the stream began (RUN_ERROR's)."""
        self._error = error or self._error

    def finish(self, status: str, error: tuple[str, str] | None) -> list[str]:
        """The run's end as stored (a client resuming after the run ended)."""
        self._error = error or self._error
        return self._run_end(status, self.state.seq)

    def _end(self, last: BaseEvent) -> list[str]:
        """Close the open text message, then `last`; the stream is over."""
        before = self.state
        events: list[BaseEvent] = []
        if before.open:
            events.append(TextMessageEndEvent(message_id=self.run_id))
            self.state = before.after(before.seq, before.chars, False)
        self.state = replace(self.state, done=True)
        return self._out(before, [*events, last])

    def _start(self) -> TextMessageStartEvent:
        return TextMessageStartEvent(message_id=self.run_id, role="assistant")

    @property
    def event_id(self) -> EventId:
        """Where the client stands after the events sent so far."""
        return EventId(self.position, self.state)

    def _out(self, before: RunState, events: list[BaseEvent]) -> list[str]:
        """Every event but the last carries the id before the Switchboard event (a client
        resuming there gets that event whole again), the last the id after it."""
        earlier = EventId(self._prior, before)
        return [
            sse(event, self.event_id if i == len(events) - 1 else earlier)
            for i, event in enumerate(events)
        ]


def _tool_call(data: dict[str, Any], message_id: str) -> list[BaseEvent]:
    call_id = str(data.get("call_id"))
    events: list[BaseEvent] = [
        ToolCallStartEvent(
            tool_call_id=call_id,
            tool_call_name=str(data.get("tool_name")),
            parent_message_id=message_id,
        ),
        ToolCallArgsEvent(tool_call_id=call_id, delta=json.dumps(data.get("parameters") or {})),
        ToolCallEndEvent(tool_call_id=call_id),
    ]
    if data.get("requires_approval"):
        events.append(CustomEvent(name="switchboard.approval_required", value=data))
    return events


def _tool_result(data: dict[str, Any]) -> ToolCallResultEvent:
    call_id = str(data.get("call_id"))
    if data.get("error") is not None:
        body = {"error": data.get("error"), "reason": data.get("reason")}
        content = json.dumps({k: v for k, v in body.items() if v is not None})
    else:
        result = data.get("result")
        content = result if isinstance(result, str) else json.dumps(result)
    return ToolCallResultEvent(
        message_id=f"{call_id}.result", tool_call_id=call_id, content=content, role="tool"
    )


def _state(data: dict[str, Any]) -> list[BaseEvent]:
    if "snapshot" in data:
        return [StateSnapshotEvent(snapshot=data["snapshot"])]
    if isinstance(data.get("delta"), list):
        return [StateDeltaEvent(delta=data["delta"])]
    return []
