"""`/ai/health` (broker and session service reachable) and `/metrics` (Prometheus text)."""

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .hub import Hub

router = APIRouter()


@router.get("/ai/health")
async def health(request: Request) -> JSONResponse:
    """200 when the broker and the session service answer; 503 naming what failed."""
    hub: Hub = request.app.state.hub
    parts = hub.parts
    checks = {"broker": parts.control.healthy and parts.fanout.healthy}
    checks["session_service"] = await parts.session_service.healthy()
    failed = [name for name, ok in checks.items() if not ok]
    body = {"status": "ok" if not failed else "unavailable", "checks": checks, "failed": failed}
    return JSONResponse(body, status_code=503 if failed else 200)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Prometheus text format."""
    hub: Hub = request.app.state.hub
    return Response(generate_latest(hub.parts.metrics.registry), media_type=CONTENT_TYPE_LATEST)
