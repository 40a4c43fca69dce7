"""`create_app(settings)`: the FastAPI app; its lifespan opens and closes every connection."""

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI, Request, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from switchboard_edge.body_guard import BodyGuard, BodyLimits
from switchboard_events import PublishFailed, names_from
from switchboard_runtime.heap import release_heap, settle_heap

from . import access
from .app_context import AppContext
from .broker import BrokerLink
from .database import make_engine, make_sessionmaker
from .errors import error_json, install_error_handlers, unexpected
from .ingest import run_ingest
from .marks import IngestWaits
from .metrics import Metrics
from .migrate import prestart
from .outbox import Outbox
from .refusals import RefusalAudit
from .relay import run_relay
from .routes import ops, runs, sessions
from .schemas import MAX_DEVICE_CHECKS_BYTES
from .settings import SessionSettings
from .sweeper import run_sweeper

log = logging.getLogger(__name__)


def create_app(settings: SessionSettings | None = None) -> FastAPI:
    """The session service; nothing connects until the lifespan starts."""
    settings = settings or SessionSettings()
    settings.check_production()
    app = FastAPI(
        title="Switchboard session service",
        version="0.1.0",
        lifespan=_lifespan(settings),
    )
    install_error_handlers(app)
    app.add_exception_handler(PublishFailed, _broker_failed)
    app.include_router(sessions.router)
    app.include_router(sessions.internal_router)
    app.include_router(runs.router)
    app.include_router(ops.router)
    if settings.env == "dev":
        app.include_router(ops.dev_router)
    limits = BodyLimits(
        settings.max_json_body_bytes,
        settings.max_audio_bytes,
        check_json=True,
        by_path=((access.BATCH_PATH, MAX_DEVICE_CHECKS_BYTES),),
        max_message_chars=settings.max_message_chars,
    )
    app.add_middleware(BodyGuard, limits=limits, auth=settings)
    app.add_middleware(Observe)
    return app


def _lifespan(
    settings: SessionSettings,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings)
        broker = BrokerLink(settings, names_from(settings), settings.broker_retry_s)
        metrics = Metrics()
        ctx = AppContext(
            settings,
            engine,
            make_sessionmaker(engine),
            broker,
            metrics,
            Outbox(),
            IngestWaits(settings.async_database_url, settings.ingest_check_s, metrics.ingest_waits),
            refusals=RefusalAudit(settings.audit_refused_window_s),
        )
        app.state.ctx = ctx
        tasks = [
            asyncio.create_task(_background(ctx), name="session-background"),
            # the one connection listening for ingest's notices; closed when cancelled
            asyncio.create_task(ctx.ingest_waits.run(), name="ingest-notices"),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await ctx.refusals.flush(ctx.database, every=True)
            await engine.dispose()
            release_heap()

    return lifespan


async def _background(ctx: AppContext) -> None:
    """Keep the broker link up (retrying until the broker answers); migrate, then relay the
    outbox, sweep, and compete for ingest."""
    async with asyncio.TaskGroup() as group:
        group.create_task(ctx.broker.run())
        group.create_task(_migrate_then_serve(ctx))


async def _migrate_then_serve(ctx: AppContext) -> None:
    """Once the tables exist: relay the outbox, sweep, and ingest while this replica owns it
    (ingest.py; the owner also reaps lapsed leases)."""
    while ctx.settings.migrate_on_start:
        try:
            await prestart(ctx.settings.async_database_url, timeout_s=5)
            break
        except Exception as exc:  # noqa: BLE001 - keep serving 503 until it works
            log.warning("migration failed (%r); retrying", exc)
            await asyncio.sleep(1)
    if ctx.settings.gc_freeze:
        settle_heap()  # startup is over: migrations, app, schemas
    async with asyncio.TaskGroup() as group:
        group.create_task(run_relay(ctx))
        group.create_task(run_sweeper(ctx))
        group.create_task(run_ingest(ctx))


async def _broker_failed(request: Request, exc: Exception) -> Response:
    return error_json(503, "broker_unavailable", f"the broker did not confirm: {exc}")


class Observe:
    """Count and time every request by route, and answer an unexpected error itself (errors.py
    `unexpected`). Plain ASGI: Starlette's `BaseHTTPMiddleware` (`app.middleware("http")`) runs
    every request in a task group of its own with a memory stream between the two halves, a
    fifth of the CPU of a cheap request such as a device check."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status: int | None = None

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:  # answered here, so uvicorn keeps the connection
            if status is not None:
                raise  # the answer had begun: nothing else can be said on it
            request = Request(scope, receive)
            await (await unexpected(request, exc))(scope, receive, sending)
        finally:
            _record(scope, status or 500, time.perf_counter() - start)


def _record(scope: Scope, status: int, seconds: float) -> None:
    path = getattr(scope.get("route"), "path", "unmatched")
    ctx: AppContext | None = getattr(scope["app"].state, "ctx", None)
    if ctx is not None:
        ctx.metrics.requests.labels(scope["method"], path, str(status)).inc()
        ctx.metrics.latency.labels(scope["method"], path).observe(seconds)
