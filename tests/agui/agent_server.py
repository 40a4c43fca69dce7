"""A real AG-UI agent: Pydantic AI's `Agent` served by its AG-UI adapter (`AGUIAdapter`), with a
scripted `FunctionModel` (no network). What the model does depends on the user's last words:

- `hello ...`: streams "Hello" " there";
- `weather ...`: calls the agent's own tool `forecast(city)`, then answers with its result;
- `echo ...`: calls Switchboard's `echo` tool (offered as a frontend tool), then answers with
  what came back in the next input;
- `delete ...`: calls the agent's `delete_file(path)`, which requires approval (a deferred
  tool: the run ends with an interrupt), then says whether it was deleted;
- `plan ...`: calls the agent's own `plan_trip(city)`, which shares state (a snapshot, then a
  JSON Patch delta), then answers;
- `fail ...`: the model raises (the adapter sends RUN_ERROR);
- `hang ...`: streams "Working" and then waits forever (for cancel).

Every `RunAgentInput` received is recorded; `closed` is set when a client drops a stream.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from ag_ui.core import StateDeltaEvent, StateSnapshotEvent
from pydantic_ai import Agent, DeferredToolRequests, ToolReturn
from pydantic_ai.messages import ModelMessage, ModelRequest, ToolReturnPart, UserPromptPart
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, FunctionModel
from pydantic_ai.ui.ag_ui import AGUIAdapter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from switchboard_stack import free_port


@dataclass
class AgentServer:
    url: str = ""
    inputs: list[dict[str, Any]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    hanging: asyncio.Event = field(default_factory=asyncio.Event)
    closed: asyncio.Event = field(default_factory=asyncio.Event)


def _prompt(messages: list[ModelMessage]) -> str:
    for message in reversed(messages):
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, UserPromptPart) and isinstance(part.content, str):
                    return part.content
    return ""


def _returned(messages: list[ModelMessage]) -> ToolReturnPart | None:
    last = messages[-1]
    if isinstance(last, ModelRequest):
        for part in last.parts:
            if isinstance(part, ToolReturnPart):
                return part
    return None


def _model(server: AgentServer) -> FunctionModel:
    async def stream(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[Any]:
        prompt, returned = _prompt(messages), _returned(messages)
        if returned is not None:
            yield f"The {returned.tool_name} tool said: {returned.model_response_str()}"
            return
        word = prompt.split()[0] if prompt.split() else ""
        if word == "hello":
            yield "Hello"
            yield " there"
        elif word == "weather":
            yield {0: DeltaToolCall("forecast", '{"city": "Oslo"}', tool_call_id="fc-1")}
        elif word == "echo":
            yield {0: DeltaToolCall("echo", '{"text": "ping"}', tool_call_id="ec-1")}
        elif word == "plan":
            yield {0: DeltaToolCall("plan_trip", '{"city": "Rome"}', tool_call_id="pl-1")}
        elif word == "delete":
            yield {0: DeltaToolCall("delete_file", '{"path": "/tmp/x"}', tool_call_id="del-1")}
        elif word == "fail":
            raise RuntimeError("the model broke down")
        elif word == "hang":
            yield "Working"
            server.hanging.set()
            await asyncio.Event().wait()
        else:
            yield f"You said: {prompt}"

    return FunctionModel(stream_function=stream)


def _agent(server: AgentServer) -> Agent[None, str | DeferredToolRequests]:
    agent: Agent[None, str | DeferredToolRequests] = Agent(
        _model(server), output_type=[str, DeferredToolRequests]
    )

    @agent.tool_plain
    def forecast(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    @agent.tool_plain
    def plan_trip(city: str) -> ToolReturn:
        """Plan a trip; the plan is shared state."""
        snapshot = StateSnapshotEvent(snapshot={"city": city, "steps": []})
        delta = StateDeltaEvent(delta=[{"op": "add", "path": "/steps/-", "value": "book"}])
        return ToolReturn(return_value=f"planned {city}", metadata=[snapshot, delta])

    @agent.tool_plain(requires_approval=True)
    def delete_file(path: str) -> str:
        """Delete a file (a human must approve)."""
        server.deleted.append(path)
        return f"deleted {path}"

    return agent


def _app(server: AgentServer) -> Starlette:
    agent = _agent(server)

    async def run(request: Request) -> Response:
        server.inputs.append(await request.json())
        response = await AGUIAdapter.dispatch_request(request, agent=agent)
        return _watched(response, server)

    return Starlette(routes=[Route("/agent", run, methods=["POST"])])


def _watched(response: Response, server: AgentServer) -> Response:
    """Sets `server.closed` when the stream ends early (the client went away)."""
    body = getattr(response, "body_iterator", None)
    if body is None:
        return response

    async def iterate() -> AsyncIterator[Any]:
        try:
            async for chunk in body:
                yield chunk
        except BaseException:
            server.closed.set()
            raise
        finally:
            if server.hanging.is_set():
                server.closed.set()

    response.body_iterator = iterate()  # type: ignore[attr-defined]
    return response


@asynccontextmanager
async def agent_server() -> AsyncIterator[AgentServer]:
    """The agent on a free loopback port, stopped on exit."""
    server = AgentServer()
    port = free_port()
    server.url = f"http://127.0.0.1:{port}/agent"
    config = uvicorn.Config(_app(server), host="127.0.0.1", port=port, log_level="warning")
    http = uvicorn.Server(config)
    task = asyncio.create_task(http.serve())
    while not http.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield server
    finally:
        http.should_exit = True
        await asyncio.wait_for(task, 10)
