"""The error envelope: every REST error is `{"error": {"code", "message"}}`."""

from typing import Any

from pydantic import Field

from .base import WireModel


class ErrorBody(WireModel):
    code: str
    """Stable machine-readable code, e.g. `run_active`, `validation_error`."""
    message: str
    """What went wrong, in words."""
    fields: list[dict[str, Any]] | None = Field(default=None, exclude_if=lambda v: v is None)
    """With `validation_error`: `[{"field", "message"}]`, one per bad field."""


class ErrorEnvelope(WireModel):
    """The body of every REST error answer (any status)."""

    error: ErrorBody
