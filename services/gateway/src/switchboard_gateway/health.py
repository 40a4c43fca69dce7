"""`/ai/health` (broker and session service reachable) and `/metrics` (Prometheus text)."""

import httpx
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .hub import Hub

router = APIRouter()


@router.get("/ai/health")
async def health(request: Request) -> JSONResponse:
    """200 when the broker and the session service answer; 503 naming what failed."""
    hub: Hub = request.app.state.hub
    checks = {"broker": await hub.pool.check() and hub.control.healthy}
    try:
        answer = await hub.http.get(hub.settings.session_url.rstrip("/") + "/ai/health", timeout=3)
        checks["session_service"] = answer.status_code == 200
    except httpx.HTTPError:
        checks["session_service"] = False
    failed = [name for name, ok in checks.items() if not ok]
    body = {"status": "ok" if not failed else "unavailable", "checks": checks, "failed": failed}
    return JSONResponse(body, status_code=503 if failed else 200)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Prometheus text format."""
    hub: Hub = request.app.state.hub
    return Response(generate_latest(hub.metrics.registry), media_type=CONTENT_TYPE_LATEST)
