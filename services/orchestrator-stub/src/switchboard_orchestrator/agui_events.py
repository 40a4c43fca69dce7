"""An AG-UI agent's events onto Switchboard's, one turn at a time.

- `TEXT_MESSAGE_CONTENT` / `_CHUNK` → text (`token`; the run's `response` is all its text);
- `TOOL_CALL_START`/`ARGS`/`END` of a tool Switchboard offered → a call the run executes
  (`TurnEnd.tool_calls`, under approval when required; its result goes in the next input);
- those of the agent's own tools → `tool_call` when its `TOOL_CALL_RESULT` comes (then
  `tool_result`), or at the end of the turn; an interrupt naming the call makes it a
  `tool_call` that requires approval (`TurnEnd.interrupts`);
- `STATE_SNAPSHOT`/`STATE_DELTA` → `state`; `STEP_STARTED` and reasoning → `thinking`;
- `RUN_ERROR` → BackendError `agent_error`; `RUN_FINISHED` ends the turn (its usage kept);
- an event that is not AG-UI, or is malformed → `warning` `agent_bad_event` (at most
  `MAX_WARNINGS` a turn); known events with no Switchboard meaning are skipped.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ag_ui.core import (
    Event,
    ReasoningMessageChunkEvent,
    ReasoningMessageContentEvent,
    ReasoningMessageEndEvent,
    RunErrorEvent,
    RunFinishedEvent,
    StateDeltaEvent,
    StateSnapshotEvent,
    StepStartedEvent,
    TextMessageChunkEvent,
    TextMessageContentEvent,
    ToolCallArgsEvent,
    ToolCallChunkEvent,
    ToolCallEndEvent,
    ToolCallResultEvent,
    ToolCallStartEvent,
)
from pydantic import BaseModel, TypeAdapter, ValidationError

from .backend import BackendError, Chunk, Emit, Interrupt, Message, ModelToolCall, TurnEnd, Usage
from .conversation import assistant_calls, function_call, tool_message

EVENTS: TypeAdapter[Event] = TypeAdapter(Event)
MAX_WARNINGS = 5
MAX_THINKING_CHARS = 2000


@dataclass
class _Call:
    call_id: str
    name: str
    arguments: list[str] = field(default_factory=list)
    ended: bool = False

    def parameters(self) -> dict[str, Any]:
        try:
            value = json.loads("".join(self.arguments) or "{}")
        except ValueError:
            return {"arguments": "".join(self.arguments)}
        return value if isinstance(value, dict) else {"arguments": value}


@dataclass
class TurnMapper:
    """One turn's state: calls in progress, reasoning text, what the turn adds."""

    where: str
    """The agent, as errors name it (`AG-UI agent http://…`)."""
    offered: frozenset[str]
    """The names of the tools Switchboard offered (its own to run)."""
    calls: dict[str, _Call] = field(default_factory=dict)
    shown: dict[str, _Call] = field(default_factory=dict)
    """The agent's calls already published as `tool_call`, their results still to come."""
    ours: list[_Call] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    transcript: list[dict[str, Any]] = field(default_factory=list)
    refused: dict[str, dict[str, str]] = field(default_factory=dict)
    """Paused calls a human refused: their result is published as this error."""
    warnings: int = 0
    end: TurnEnd | None = None

    def awaiting(self, messages: Sequence[Message]) -> None:
        """The calls of `messages` with no result yet (paused for a decision): the agent
        reports their results in this turn."""
        answered = {m.get("tool_call_id") for m in messages if m.get("role") == "tool"}
        for message in messages:
            for call in message.get("tool_calls") or []:
                if call["id"] not in answered:
                    function = call["function"]
                    args = [function.get("arguments") or ""]
                    self.shown[call["id"]] = _Call(call["id"], function["name"], args, True)

    def feed(self, raw: str) -> list[Chunk]:
        """What one SSE `data:` payload means for the run."""
        try:
            event = EVENTS.validate_json(raw)
        except (ValidationError, ValueError) as exc:
            return self._warn(f"{self.where} sent an event that is not AG-UI: {_problem(exc, raw)}")
        handler = _HANDLERS.get(type(event))
        return handler(self, event) if handler is not None else []

    def finish(self) -> TurnEnd:
        """The turn's end; BackendError when the stream stopped before `RUN_FINISHED`."""
        if self.end is None:
            raise BackendError(
                f"{self.where}: the event stream ended before RUN_FINISHED", "agent_error"
            )
        return self.end

    def _warn(self, message: str) -> list[Chunk]:
        self.warnings += 1
        if self.warnings > MAX_WARNINGS:
            return []
        if self.warnings == MAX_WARNINGS:
            message += " (further bad events of this turn are not reported)"
        return [Emit("warning", {"code": "agent_bad_event", "message": message[:1000]})]

    # -- text, state, steps, reasoning ---------------------------------------------------
    def _text(self, event: TextMessageContentEvent | TextMessageChunkEvent) -> list[Chunk]:
        return [*self._flush(), event.delta] if event.delta else []

    def _state(self, event: StateSnapshotEvent | StateDeltaEvent) -> list[Chunk]:
        if isinstance(event, StateSnapshotEvent):
            if event.snapshot is None:
                return self._warn(f"{self.where} sent a STATE_SNAPSHOT without a snapshot")
            return [*self._flush(), Emit("state", {"snapshot": event.snapshot})]
        delta = [_plain(operation) for operation in event.delta]
        return [*self._flush(), Emit("state", {"delta": delta})]

    def _step(self, event: StepStartedEvent) -> list[Chunk]:
        message = f"step {event.step_name}"
        return [*self._flush(), Emit("thinking", {"status": "step", "message": message})]

    def _reasoning(
        self, event: ReasoningMessageContentEvent | ReasoningMessageChunkEvent
    ) -> list[Chunk]:
        self.reasoning.append(event.delta or "")
        return []

    def _reasoned(self, event: ReasoningMessageEndEvent) -> list[Chunk]:
        text, self.reasoning = "".join(self.reasoning).strip(), []
        if not text:
            return []
        message = text[:MAX_THINKING_CHARS]
        return [*self._flush(), Emit("thinking", {"status": "reasoning", "message": message})]

    # -- tool calls ----------------------------------------------------------------------
    def _call_start(self, event: ToolCallStartEvent) -> list[Chunk]:
        call = _Call(event.tool_call_id, event.tool_call_name)
        self.calls[call.call_id] = call
        return []

    def _call_args(self, event: ToolCallArgsEvent) -> list[Chunk]:
        call = self.calls.get(event.tool_call_id)
        if call is None:
            return self._warn(f"{self.where} sent TOOL_CALL_ARGS for an unknown call")
        call.arguments.append(event.delta)
        return []

    def _call_chunk(self, event: ToolCallChunkEvent) -> list[Chunk]:
        if event.tool_call_id and event.tool_call_id not in self.calls:
            self.calls[event.tool_call_id] = _Call(event.tool_call_id, event.tool_call_name or "")
        call = self.calls.get(event.tool_call_id or "") or next(reversed(self.calls.values()), None)
        if call is None:
            return self._warn(f"{self.where} sent TOOL_CALL_CHUNK without a call id")
        call.arguments.append(event.delta or "")
        return []

    def _call_end(self, event: ToolCallEndEvent) -> list[Chunk]:
        call = self.calls.get(event.tool_call_id)
        if call is None:
            return self._warn(f"{self.where} sent TOOL_CALL_END for an unknown call")
        call.ended = True
        if call.name in self.offered:
            del self.calls[call.call_id]
            self.ours.append(call)
        return []

    def _call_result(self, event: ToolCallResultEvent) -> list[Chunk]:
        shown = self.shown.pop(event.tool_call_id, None)
        call = shown or self.calls.pop(event.tool_call_id, None)
        if call is None:
            return self._warn(f"{self.where} sent TOOL_CALL_RESULT for an unknown call")
        content = event.content if isinstance(event.content, str) else json.dumps(event.content)
        base = {"call_id": call.call_id, "tool_name": call.name}
        chunks: list[Chunk] = []
        if shown is None:
            self.transcript.append(_asked(call))
            chunks.append(Emit("tool_call", {**base, "parameters": call.parameters()}))
        self.transcript.append(tool_message(call.call_id, content))
        refusal = self.refused.get(call.call_id)
        outcome = refusal if refusal is not None else {"result": _json_or_text(content)}
        return [*chunks, Emit("tool_result", {**base, **outcome})]

    def _flush(self) -> list[Chunk]:
        """The agent's own calls that ended without a result yet, as `tool_call`s (shown
        before whatever the agent does next)."""
        done = [call for call in self.calls.values() if call.ended]
        for call in done:
            self.shown[call.call_id] = self.calls.pop(call.call_id)
            self.transcript.append(_asked(call))
        params = [(call, call.parameters()) for call in done]
        return [
            Emit("tool_call", {"call_id": c.call_id, "tool_name": c.name, "parameters": p})
            for c, p in params
        ]

    # -- the run's end -------------------------------------------------------------------
    def _error(self, event: RunErrorEvent) -> list[Chunk]:
        code = f" ({event.code})" if event.code else ""
        raise BackendError(f"{self.where} failed the run{code}: {event.message}", "agent_error")

    def _finished(self, event: RunFinishedEvent) -> list[Chunk]:
        outcome = event.outcome
        interrupts: list[Interrupt] = []
        chunks: list[Chunk] = []
        if outcome is not None and outcome.type == "interrupt":
            for interrupt in outcome.interrupts:
                interrupts.append(self._interrupt(interrupt.id, interrupt.tool_call_id, interrupt))
        chunks.extend(self._flush())
        calls = [ModelToolCall(c.name, "".join(c.arguments), c.call_id) for c in self.ours]
        self.end = TurnEnd(calls, _usage(event), self.transcript, interrupts)
        return chunks

    def _interrupt(self, interrupt_id: str, call_id: str | None, interrupt: Any) -> Interrupt:
        """The interrupt as a call to approve: the agent's call it names (held back until
        now, or published already when the agent went on meanwhile: then asked again, once
        in the next input), else the interrupt itself (`tool_name` its reason, `parameters` its
        message)."""
        call = self.calls.pop(call_id or "", None)
        if call is None and call_id in self.shown:
            call = self.shown.pop(call_id)
            self.transcript[:] = [m for m in self.transcript if m != _asked(call)]
        if call is not None:
            return Interrupt(interrupt_id, call.call_id, call.name, call.parameters())
        message = {"message": interrupt.message} if interrupt.message else {}
        return Interrupt(interrupt_id, call_id or interrupt_id, interrupt.reason, message)


def _asked(call: _Call) -> dict[str, Any]:
    return assistant_calls("", [function_call(call.call_id, call.name, call.parameters())])


def _plain(value: Any) -> Any:
    """A JSON Patch operation as plain JSON (the AG-UI SDK reads them into models)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return value


def _json_or_text(content: str) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return content


def _usage(event: RunFinishedEvent) -> Usage | None:
    if not event.usage:
        return None
    return Usage(
        sum(u.input_tokens or 0 for u in event.usage),
        sum(u.output_tokens or 0 for u in event.usage),
    )


def _problem(exc: Exception, raw: str) -> str:
    if isinstance(exc, ValidationError):
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        return f"{where}: {error['msg']} in {raw[:200]}"
    return f"{exc} in {raw[:200]}"


_HANDLERS: dict[type, Any] = {
    TextMessageContentEvent: TurnMapper._text,
    TextMessageChunkEvent: TurnMapper._text,
    StateSnapshotEvent: TurnMapper._state,
    StateDeltaEvent: TurnMapper._state,
    StepStartedEvent: TurnMapper._step,
    ReasoningMessageContentEvent: TurnMapper._reasoning,
    ReasoningMessageChunkEvent: TurnMapper._reasoning,
    ReasoningMessageEndEvent: TurnMapper._reasoned,
    ToolCallStartEvent: TurnMapper._call_start,
    ToolCallArgsEvent: TurnMapper._call_args,
    ToolCallChunkEvent: TurnMapper._call_chunk,
    ToolCallEndEvent: TurnMapper._call_end,
    ToolCallResultEvent: TurnMapper._call_result,
    RunErrorEvent: TurnMapper._error,
    RunFinishedEvent: TurnMapper._finished,
}
"""The events that mean something here; the others (RUN_STARTED, TEXT_MESSAGE_START/END,
STEP_FINISHED, MESSAGES_SNAPSHOT, ACTIVITY_*, CUSTOM, RAW, SUBAGENT_*) are skipped."""
