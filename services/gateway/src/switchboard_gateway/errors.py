"""The gateway's own REST error answers: switchboard_protocol's `ErrorEnvelope`, rendered as
the session service renders its errors, so both halves of the public URL answer alike."""

from fastapi.responses import JSONResponse
from switchboard_protocol import ErrorBody, ErrorEnvelope


def error_response(status: int, code: str, message: str) -> JSONResponse:
    """`{"error": {"code", "message"}}` with `status`."""
    body = ErrorEnvelope(error=ErrorBody(code=code, message=message))
    return JSONResponse(body.model_dump(mode="json"), status_code=status)


def upstream_unavailable() -> JSONResponse:
    """503 `upstream_unavailable`: the session service did not answer."""
    return error_response(503, "upstream_unavailable", "session service unavailable")
