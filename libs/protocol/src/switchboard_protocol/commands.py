"""Commands on the broker: what the services ask of each other (docs/asyncapi.yaml says where).
Events are not commands: they travel on the stream shards (`ai.stream.<k>`).

- `RunRequest`: session service → run workers (`ai.commands`, key `run`, queue `ai.runs`).
- `ToolCallRequest` / `ToolListRequest`: run worker → tool workers (`ai.commands`, key `tool`,
  queue `ai.tools`), with `reply_to` and `correlation_id` = call_id; answered by `ToolReply`.
- `ToolCancel`: run worker → tool workers (`ai.control`, `tool-cancel.<call_id>`).
- `RunCancel`: session service → run workers (`ai.control`, `cancel.<run_id>`).
- `ToolDecisionCommand`: session service → run worker (`ai.control`, `approval.<call_id>`).
- `Release`: gateway → gateways (`ai.control`, `release.<session_id>.<client_id>`).
- `CatchUpRequest` / `CatchUpReply`: gateway → session service (the `ai.run-progress` queue,
  AMQP type `catchup`, `reply_to`, `correlation_id`).
- `LeaseRenewal` / `LeaseReply`: run worker → session service (the `ai.run-progress` queue,
  AMQP type `lease`, `reply_to` the worker's control queue) and its answer.
"""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool

from .base import WireModel
from .names import Name
from .runs import ActiveRun

LIST_TOOLS = "list_tools"
"""`op` of a `ToolListRequest`."""

RUN_LEASE_S = 10.0
"""Default run lease (the session service's RUN_LEASE_S, sent in each `RunRequest`)."""


class HistoryItem(WireModel):
    """One earlier message: user and assistant text, or a tool call or result (`tool` then
    holds `kind` "call"|"result", `call_id`, `tool_name`, `parameters`|`result`|`error`)."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str = ""
    tool: dict[str, Any] | None = Field(default=None, exclude_if=lambda v: v is None)


class RunRequest(WireModel):
    """One message to answer. `run_id` and `session_id` come first in the JSON: a worker reads
    them from the first bytes of a request it cannot parse, to fail that run."""

    run_id: Name
    session_id: Name
    message_id: str | None = None
    user_id: str | None = None
    agent_type: str = "personal"
    mode: Literal["text", "voice"] = "text"
    content: str = ""
    audio_b64: str | None = None
    client_id: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    history: list[HistoryItem] = Field(default_factory=list)
    """The conversation before this message, oldest first (the session service cuts it to
    HISTORY_MAX_MESSAGES / HISTORY_MAX_CHARS)."""
    history_dropped: int = Field(default=0, ge=0)
    """How many older messages were left out of `history` (a `warning` says so)."""
    start_by: datetime | None = None
    """A request taken after this is not run: the session service ends it `no_worker`
    (RUN_START_TIMEOUT_S after it was sent)."""
    lease_s: float = Field(default=RUN_LEASE_S, gt=0)
    """The run's lease, the session service's RUN_LEASE_S: it fails the run `worker_lost` when
    its worker renewed nothing for this long, and the worker stops the run first."""


class ToolCallRequest(WireModel):
    """Run `tool_name` with `parameters` for `user_id` (whose calls in flight are capped).

    `user_id`, `session_id` and `run_id` say on whose behalf the call runs: every tool gets
    them (MCP servers in the request's `_meta`), so a tool keeps each user's state apart."""

    call_id: str = ""
    """Empty: the AMQP `correlation_id` names the call."""
    tool_name: str
    parameters: Any = Field(default_factory=dict)
    user_id: str = ""
    session_id: str = ""
    run_id: str = ""


class ToolListRequest(WireModel):
    """Which tools the tool workers offer; answered by a `ToolReply` whose `result` is
    `{"tools": [{"name", "description", "parameters", "source"}]}`."""

    call_id: str = ""
    op: Literal["list_tools"] = "list_tools"


class ToolReply(WireModel):
    """A tool worker's answer: `result`, or `error` (why the call failed)."""

    result: Any = Field(default=None, exclude_if=lambda v: v is None)
    error: str | None = Field(default=None, exclude_if=lambda v: v is None)


class ToolCancel(WireModel):
    """The run stopped waiting for `call_id` (cancelled, or timed out): stop it."""

    call_id: str


class RunCancel(WireModel):
    """Stop run `run_id`: it ends with `run_end` `{"status": "cancelled"}`."""

    run_id: str
    session_id: str


class ToolDecisionCommand(WireModel):
    """A device's decision on a call that requires approval, recorded first in Postgres."""

    call_id: str
    session_id: str
    run_id: str
    approve: StrictBool
    reason: str | None = None
    user_id: str | None = None
    """Who decided."""
    client_id: str | None = None
    """From which device."""


class Release(WireModel):
    """A newer connection (`requester`) of device `client_id` of `session_id` took over: every
    gateway closes that device's other sockets (4409). On `ai.control`, key
    `release.<session_id>.<client_id>`."""

    session_id: Name
    client_id: Name
    requester: str
    """The id of the new connection (the one not to close)."""


class CatchUpRequest(WireModel):
    session_id: str


class CatchUpReply(WireModel):
    active_run: ActiveRun | None = None
    """The session's run in progress so far, null when none."""
    position: int = Field(default=-1, ge=-1)
    """The last offset of the session's stream shard folded into `active_run` when answering
    (-1: none yet): the session's events at offsets after it are what follows this state."""


RunId = Annotated[str, Field(max_length=64)]


class LeaseRenewal(WireModel):
    """A run worker still holds `runs`: their leases run RUN_LEASE_S from when this is read."""

    worker: str = Field(default="worker", max_length=128)
    runs: list[RunId] = Field(default_factory=list, max_length=10_000)


class LeaseReply(WireModel):
    """The runs of a renewal that are no longer the worker's (failed `worker_lost`, or
    unknown): it gives them up."""

    lost: list[str] = Field(default_factory=list)


COMMANDS: tuple[type[WireModel], ...] = (
    RunRequest,
    ToolCallRequest,
    ToolListRequest,
    ToolReply,
    ToolCancel,
    RunCancel,
    ToolDecisionCommand,
    Release,
    CatchUpRequest,
    CatchUpReply,
    LeaseRenewal,
    LeaseReply,
)
"""Every command (its schema, docs and tests follow this list)."""
