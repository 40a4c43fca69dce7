"""`/openapi.json` and `/docs`: the gateway's own routes plus the session service's REST API,
which the gateway proxies. The session service's document is fetched once (when first asked
for) and merged in, so the public contract has one source and request bodies and responses
are described exactly. Until it was fetched, and while the session service does not answer,
`/openapi.json` answers 503 `upstream_unavailable` rather than an incomplete document.

`/docs` is Swagger UI from the `fastapi-offline` package's files (served at `/docs/assets`),
never from a CDN, so it works offline; its Authorize button takes a bearer JWT (the
`HTTPBearer` security scheme, which the session service's operations require)."""

import copy
import logging
from importlib.resources import files
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from .agui.openapi import agui_schemas
from .errors import upstream_unavailable
from .upstream import SessionService

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

PROXIED = ("/ai/sessions", "/ai/dev/token", "/ai/stats")
"""Path prefixes whose description comes from the session service."""

ASSETS = "/docs/assets"
BEARER = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": "A JWT with `sub` and `exp` (dev mode: `POST /ai/dev/token`).",
}
"""The scheme the session service's operations name (`HTTPBearer`); Authorize fills it."""

_LIVE = {
    "live_connections": {
        "type": "integer",
        "title": "Live Connections",
        "description": "The caller's open WebSocket connections on this gateway replica.",
    },
}


@router.get("/openapi.json")
async def openapi(request: Request) -> Response:
    app: FastAPI = request.app
    if app.openapi_schema is None:
        session_service: SessionService = app.state.session_service
        try:
            upstream = await session_service.openapi()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("session service OpenAPI unavailable: %r", exc)
            return upstream_unavailable()
        app.openapi_schema = merge(own_schema(app), upstream)
    return JSONResponse(app.openapi_schema)


@router.get("/docs")
async def docs() -> Response:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="Switchboard API",
        swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS}/favicon.png",
        swagger_ui_parameters={"persistAuthorization": True},
    )


def mount_assets(app: FastAPI) -> None:
    """Swagger UI's script, styles and icon, from the installed `fastapi_offline` package."""
    folder = files("fastapi_offline") / "static"
    app.mount(ASSETS, StaticFiles(directory=str(folder)), name="docs-assets")


def own_schema(app: FastAPI) -> dict[str, Any]:
    return get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )


def merge(own: dict[str, Any], upstream: dict[str, Any]) -> dict[str, Any]:
    """`own` plus the proxied paths of `upstream` and the schemas they refer to."""
    merged = copy.deepcopy(own)
    paths = merged.setdefault("paths", {})
    for path, item in upstream.get("paths", {}).items():
        if path.startswith(PROXIED):
            paths[path] = item
    schemas = merged.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in upstream.get("components", {}).get("schemas", {}).items():
        schemas.setdefault(name, schema)
    _add_live_counts(schemas)
    for name, schema in agui_schemas().items():
        schemas.setdefault(name, schema)
    schemes = merged["components"].setdefault("securitySchemes", {})
    schemes.update(upstream.get("components", {}).get("securitySchemes", {}))
    schemes["HTTPBearer"] = BEARER
    return merged


def _add_live_counts(schemas: dict[str, Any]) -> None:
    """The gateway adds its live connection counts to the session service's `Stats`."""
    stats = schemas.get("Stats")
    if isinstance(stats, dict):
        stats.setdefault("properties", {}).update(_LIVE)
        stats["required"] = sorted({*stats.get("required", []), *_LIVE})
