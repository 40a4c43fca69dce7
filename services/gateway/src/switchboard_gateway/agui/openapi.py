"""How the AG-UI routes appear in the OpenAPI document: the body is AG-UI's `RunAgentInput`
(ag-ui-protocol's own model), the answer a `text/event-stream` of AG-UI events, and errors the
API's envelope."""

from typing import Any

from ag_ui.core import RunAgentInput
from fastapi.responses import StreamingResponse
from switchboard_protocol import ErrorEnvelope

REF = "#/components/schemas/{model}"
_ERROR = {
    "description": "The API's error envelope, `error` with `code` and `message`",
    "content": {"application/json": {"schema": {"$ref": REF.format(model="ErrorEnvelope")}}},
}
_HEADERS = [
    {
        "name": "X-Client-Id",
        "in": "header",
        "required": False,
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$", "default": "agui"},
        "description": "The device this stream is (one stream per device at a time).",
    },
    {
        "name": "Last-Event-ID",
        "in": "header",
        "required": False,
        "schema": {"type": "string"},
        "description": (
            "Resume a dropped stream after the event with this SSE id "
            "(400 `invalid_cursor` when it is not one)."
        ),
    },
]
_ANSWERS = {
    "200": {
        "description": "The run as AG-UI events, one SSE event each with an `id:`",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
    **{status: _ERROR for status in ("400", "401", "403", "404", "409", "413", "422", "429")},
    "503": _ERROR,
}


def operation(post: bool) -> dict[str, Any]:
    """`openapi_extra` of `POST` (with the `RunAgentInput` body) or `GET`."""
    extra: dict[str, Any] = {
        "parameters": _HEADERS,
        "responses": _ANSWERS,
        "security": [{"HTTPBearer": []}],
    }
    if post:
        schema = {"$ref": REF.format(model="RunAgentInput")}
        content = {"application/json": {"schema": schema}}
        extra["requestBody"] = {"required": True, "content": content}
    return extra


class EventStream(StreamingResponse):
    media_type = "text/event-stream"


def agui_schemas() -> dict[str, Any]:
    """`RunAgentInput`, the error envelope and the models they refer to, as components."""
    out: dict[str, Any] = {}
    for model in (RunAgentInput, ErrorEnvelope):
        schema = model.model_json_schema(by_alias=True, ref_template=REF)
        out.update(schema.pop("$defs", {}))
        out[model.__name__] = schema
    return out
