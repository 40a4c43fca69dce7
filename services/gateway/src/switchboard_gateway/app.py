"""`create_app(settings)`: routes, static demo page, and the lifespan that owns every link."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from switchboard_edge.body_guard import BodyGuard, BodyLimits
from switchboard_runtime.heap import release_heap, settle_heap

from . import health, openapi, proxy, stats
from .agui import routes as agui
from .endpoint import device_socket
from .hub import Hub
from .restslots import RestSlots
from .settings import GatewaySettings


def create_app(settings: GatewaySettings) -> FastAPI:
    settings.check_production()
    hub = Hub(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            await hub.start()
            if settings.gc_freeze:
                settle_heap()  # startup is over: app, schemas, broker links
            yield
        finally:
            await hub.close()
            release_heap()

    app = FastAPI(
        title="Switchboard", lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None
    )
    app.state.hub = hub
    app.state.session_service = hub.parts.session_service
    app.state.settings = settings
    app.state.rest_slots = RestSlots(settings.rest_requests_per_user)
    app.include_router(health.router)
    app.include_router(agui.router)  # before the proxy, which takes every other /ai/sessions path
    app.include_router(stats.router)
    app.include_router(proxy.router)
    app.include_router(openapi.router)
    openapi.mount_assets(app)
    app.add_api_websocket_route("/ai/ws/{session_id}", device_socket)
    limits = BodyLimits(
        settings.max_json_body_bytes,
        settings.max_audio_bytes,
        max_message_chars=settings.max_message_chars,
    )
    app.add_middleware(BodyGuard, limits=limits, auth=settings)
    _static(app, settings)
    return app


def _static(app: FastAPI, settings: GatewaySettings) -> None:
    """`/` answers the demo page, `/static/...` its files; fine when the folder is missing."""
    folder = settings.static_dir
    index = folder / "index.html"

    @app.get("/", include_in_schema=False)
    async def root() -> Response:
        if index.is_file():
            return FileResponse(index)
        return JSONResponse({"service": "switchboard-gateway", "docs": "/docs"})

    if folder.is_dir():
        app.mount("/static", StaticFiles(directory=folder), name="static")
