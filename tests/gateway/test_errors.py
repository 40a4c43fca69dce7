"""The gateway's own REST errors are switchboard_protocol's `ErrorEnvelope`, byte for byte as
the session service writes its errors (no processes: the proxy and OpenAPI routes with a
session service that does not answer)."""

from types import SimpleNamespace
from typing import Any

import httpx
from fastapi.responses import JSONResponse
from starlette.requests import Request
from switchboard_gateway import openapi, proxy
from switchboard_protocol import ErrorEnvelope
from switchboard_session.errors import error_json


class Unreachable:
    """A session service stand-in whose every call raises `exc`."""

    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    async def forward(self, *args: Any) -> httpx.Response:
        raise self.exc

    async def openapi(self) -> Any:
        raise self.exc


def request(path: str, session_service: Unreachable) -> Request:
    app = SimpleNamespace(state=SimpleNamespace(session_service=session_service))
    app.openapi_schema = None
    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [],
        "app": app,
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    return Request(scope, receive)


def assert_envelope(answer: Any, status: int, code: str, message: str) -> None:
    assert isinstance(answer, JSONResponse)
    assert answer.status_code == status
    envelope = ErrorEnvelope.model_validate_json(bytes(answer.body))  # strict: no extra fields
    assert envelope.error.code == code
    assert answer.body == error_json(status, code, message).body
    assert answer.body == f'{{"error":{{"code":"{code}","message":"{message}"}}}}'.encode()


async def test_proxy_errors_are_the_protocol_envelope() -> None:
    down = Unreachable(httpx.ConnectError("refused"))
    answer = await proxy.forward(request("/ai/sessions/x", down))
    assert_envelope(answer, 503, "upstream_unavailable", "session service unavailable")
    bad_path = Unreachable(httpx.InvalidURL("control character"))
    answer = await proxy.forward(request("/ai/sessions/k%04y", bad_path))
    assert_envelope(answer, 404, "not_found", "no such resource")


async def test_openapi_error_is_the_protocol_envelope() -> None:
    down = Unreachable(httpx.ConnectError("refused"))
    answer = await openapi.openapi(request("/openapi.json", down))
    assert_envelope(answer, 503, "upstream_unavailable", "session service unavailable")
