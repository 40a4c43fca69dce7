"""A tiny stand-in for the session service, run in the test process: the calls the gateway
makes (session check, message, cancel, audio), with state the tests set directly."""

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from switchboard_edge.auth import AuthError, AuthSettings, verify_token
from switchboard_stack import free_port


@dataclass
class FakeSession:
    owner: str
    status: str = "active"
    mode: str = "text"
    busy: bool = False


@dataclass
class StandIn:
    auth: AuthSettings
    sessions: dict[str, FakeSession] = field(default_factory=dict)
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    url: str = ""
    _ids: itertools.count = field(default_factory=itertools.count)

    def app(self) -> FastAPI:
        app = FastAPI()

        def error(status: int, code: str) -> JSONResponse:
            return JSONResponse({"error": {"code": code, "message": code}}, status_code=status)

        def session_of(request: Request, sid: str) -> FakeSession | JSONResponse:
            token = request.headers.get("authorization", "").removeprefix("Bearer ")
            try:
                user = verify_token(token, self.auth).user_id
            except AuthError:
                return error(401, "unauthenticated")
            session = self.sessions.get(sid)
            if session is None or session.owner != user:
                return error(404, "not_found")
            return session

        @app.get("/ai/health")
        async def health() -> dict[str, str]:
            return {"status": "ok"}

        @app.get("/ai/stats")
        async def stats() -> dict[str, int]:
            return {"sessions": len(self.sessions)}

        @app.get("/ai/sessions/{sid}")
        async def get_session(sid: str, request: Request) -> Any:
            s = session_of(request, sid)
            if isinstance(s, JSONResponse):
                return s
            return {
                "id": sid,
                "user_id": s.owner,
                "status": s.status,
                "mode": s.mode,
                "agent_type": "personal",
                "messages": [],
                "active_run": None,
            }

        @app.post("/ai/sessions/{sid}/{action}")
        async def act(sid: str, action: str, request: Request) -> Any:
            s = session_of(request, sid)
            if isinstance(s, JSONResponse):
                return s
            body = await request.body()
            ctype = request.headers.get("content-type")
            info = {
                "client_id": request.headers.get("x-client-id"),
                "body": json.loads(body) if ctype == "application/json" else len(body),
                "content_type": ctype,
            }
            self.calls.append((sid, action, info))
            if s.busy:
                return error(409, "run_active")
            n = next(self._ids)
            return JSONResponse({"message_id": f"m{n}", "run_id": f"r{n}"}, status_code=202)

        @app.delete("/ai/sessions/{sid}")
        async def delete(sid: str) -> Response:
            return Response(status_code=204)

        return app


@contextlib.asynccontextmanager
async def serve_standin(auth: AuthSettings) -> AsyncIterator[StandIn]:
    standin = StandIn(auth)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(standin.app(), port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    standin.url = f"http://127.0.0.1:{port}"
    try:
        yield standin
    finally:
        server.should_exit = True
        await task
