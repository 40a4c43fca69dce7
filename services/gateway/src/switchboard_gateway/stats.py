"""`GET /ai/stats`: the session service's counts for the caller, with `live_connections`
counted by the gateways (the caller's devices connected now, on every replica: presence.py)."""

import json

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from .proxy import forward, too_many
from .restslots import RestSlots, caller_of

router = APIRouter(include_in_schema=False)
"""Described in the OpenAPI document with the proxied routes (openapi.py)."""
USER = "user:"


@router.get("/ai/stats")
async def stats(request: Request) -> Response:
    slots: RestSlots = request.app.state.rest_slots
    caller = caller_of(request, request.app.state.settings)
    if not slots.take(caller):
        return too_many(slots.per_caller)
    try:
        answer = await forward(request)
        if isinstance(answer, JSONResponse):
            return answer
        try:
            body = await answer.aread()
        finally:
            await answer.aclose()
        counts = _counts(body) if answer.status_code == 200 else None
        if counts is None or not caller.startswith(USER):
            return Response(body, answer.status_code, media_type="application/json")
        counts["live_connections"] = await request.app.state.hub.presence.count(caller[len(USER) :])
        return JSONResponse(counts)
    finally:
        slots.give(caller)


def _counts(body: bytes) -> dict[str, object] | None:
    try:
        counts = json.loads(body)
    except ValueError:
        return None
    return counts if isinstance(counts, dict) else None
