"""A small in-test gateway speaking docs/protocol.md (REST + WebSocket), fully under test control.

Positions (v2): each session's events are kept in a log (the stream), each with a `cursor`.
A connect whose auth frame (or query) carries a cursor found in the log gets `recovered: true`
and the events after it, then the live tail; one not found (`expire` dropped the log, as
retention does) gets `recovered: false`; one that does not parse also gets an `invalid_cursor`
error frame. Acks are recorded and change nothing. Tokens are real JWTs (dev secret); an
expired token closes the socket with 4401. A connect that is not recovered while a run is
active gets the run's state so far in its hello's `active_run` (docs/protocol.md "Catch-up"),
and then the run's last `catch_up_overlap` events again, as the real gateway may (clients skip
them); `catch_up=False` plays a gateway without catch-up.
"""

import asyncio
import contextlib
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from switchboard_edge.auth import AuthError, AuthSettings, issue_dev_token, verify_token
from switchboard_events import new_id
from switchboard_stack import free_port

from tests.client.fake_runs import Run, event_dict, play

CURSOR = re.compile(r"^\d{1,4}\.\d{1,19}\.\d{1,6}\.[0-9A-Za-z]{1,16}$")


@dataclass
class Device:
    """One device's connection: the events queued for its socket (`sent` of them went out)."""

    events: list[dict[str, Any]] = field(default_factory=list)
    sent: int = 0
    ws: WebSocket | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    acked: str | None = None
    """The last `ack` frame's id (acks are accepted and change nothing in v2)."""

    def ack(self, event_id: str) -> None:
        self.acked = event_id


def problem(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


class FakeGateway:
    def __init__(
        self,
        static_dir: Path | None = None,
        ack_window: int = 256,
        catch_up: bool = True,
        catch_up_overlap: int = 0,
    ) -> None:
        self.auth = AuthSettings()
        self.ack_window = ack_window
        self.catch_up = catch_up
        self.catch_up_overlap = catch_up_overlap
        self.run_events: dict[str, list[dict[str, Any]]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        self.devices: dict[tuple[str, str], Device] = {}
        self.frames: list[dict[str, Any]] = []
        self.logs: dict[str, list[dict[str, Any]]] = {}
        """Each session's events as published (with their cursors), minus `expire`d ones."""
        self.offset = 0
        self.auth_frames: list[dict[str, Any]] = []
        self.hellos: list[dict[str, Any]] = []
        self.created: list[dict[str, Any]] = []
        """Bodies of `POST /ai/sessions`, as sent."""
        self.auth_tokens: list[str] = []
        self.refusals: list[tuple[int, str]] = []
        """Close codes and reasons the next connects get after their auth frame, one each
        (a connect the real gateway refuses, as 4429 `connect_rate_limited`)."""
        self.sent_ids: list[str] = []
        self.runs: dict[str, Run] = {}
        self.connected = asyncio.Condition()
        self.static_dir = static_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = self._build()
        self._tasks: set[asyncio.Task[Any]] = set()

    def token(self, user: str = "alice", ttl_s: int | None = None) -> str:
        return issue_dev_token(user, self.auth, ttl_s)

    # -- publishing (what the broker would do) ----------------------------------------
    async def publish(self, session_id: str, event: dict[str, Any]) -> None:
        """Append the event to the session's log with its cursor (a new offset each), and
        send it to the session's connected devices."""
        self.offset += 1
        event = {"cursor": f"0.{self.offset}.0.{event['id'][-8:]}", **event}
        self.logs.setdefault(session_id, []).append(event)
        if event.get("run_id"):
            self.run_events.setdefault(event["run_id"], []).append(event)
        for (sid, _), device in self.devices.items():
            if sid == session_id and device.ws is not None:
                device.events.append(event)
                device.changed.set()

    def expire(self, session_id: str) -> None:
        """The session's events so far pass retention: their cursors resume nothing."""
        self.logs[session_id] = []

    def cursors(self, session_id: str) -> list[str]:
        return [event["cursor"] for event in self.logs.get(session_id, [])]

    def event(self, session_id: str, event_type: str, data: dict[str, Any], **env: Any) -> dict:
        return event_dict(event_type, data, session_id=session_id, **env)

    async def drop(self, session_id: str, code: int = 1012) -> None:
        """Close every live socket of the session (1012: service restart → reconnect)."""
        for (sid, _), device in self.devices.items():
            if sid == session_id and device.ws is not None:
                with contextlib.suppress(Exception):
                    await device.ws.close(code)

    async def wait_connects(self, count: int, timeout: float = 10) -> None:
        async with asyncio.timeout(timeout), self.connected:
            await self.connected.wait_for(lambda: len(self.hellos) >= count)

    def active_run(self, session_id: str) -> dict[str, Any] | None:
        """The catch-up state of the session's active run (docs/protocol.md), from its events."""
        run_id = self.sessions[session_id]["active_run"]
        if not run_id:
            return None
        events = self.run_events.get(run_id, [])
        tokens = [e["data"]["token"] for e in events if e["type"] == "token"]
        calls = [dict(e["data"]) for e in events if e["type"] == "tool_call"]
        return {
            "run_id": run_id,
            "seq": max((e["seq"] for e in events), default=0),
            "agent_type": self.sessions[session_id]["agent_type"],
            "text": "".join(tokens),
            "tool_calls": calls,
        }

    def new_session(self, user: str = "alice", **fields: Any) -> dict[str, Any]:
        sid = new_id()
        now = datetime.now(UTC).isoformat()
        session = {"id": sid, "user_id": user, "agent_type": "personal", "mode": "text"}
        session |= {"status": "active", "created_at": now, "expires_at": now, "metadata": {}}
        session |= {"messages": [], "active_run": None, "ws_url": f"/ai/ws/{sid}", **fields}
        self.sessions[sid] = session
        return session

    # -- app ----------------------------------------------------------------------------
    def _build(self) -> FastAPI:
        app = FastAPI()
        app.add_api_route("/ai/dev/token", self._dev_token, methods=["POST"])
        app.add_api_route("/ai/sessions", self._create, methods=["POST"])
        app.add_api_route("/ai/sessions", self._list, methods=["GET"])
        app.add_api_route("/ai/sessions/{sid}", self._get, methods=["GET"])
        app.add_api_route("/ai/sessions/{sid}", self._delete, methods=["DELETE"])
        app.add_api_route("/ai/sessions/{sid}/message", self._message, methods=["POST"])
        app.add_api_route("/ai/sessions/{sid}/cancel", self._cancel, methods=["POST"])
        app.add_api_websocket_route("/ai/ws/{sid}", self._ws)
        if self.static_dir is not None:
            app.mount("/static", StaticFiles(directory=self.static_dir), name="static")
            index = self.static_dir / "index.html"
            app.add_api_route("/", lambda: FileResponse(index), methods=["GET"])
        return app

    def _user(self, request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        try:
            return verify_token(header.removeprefix("Bearer "), self.auth).user_id
        except AuthError:
            return None

    def _owned(self, request: Request, sid: str) -> tuple[str | None, dict[str, Any] | None]:
        user = self._user(request)
        session = self.sessions.get(sid)
        return user, session if session and session["user_id"] == user else None

    async def _dev_token(self, request: Request) -> Any:
        body = await request.json()
        return {"token": self.token(body["user_id"])}

    async def _create(self, request: Request) -> Any:
        if (user := self._user(request)) is None:
            return problem(401, "unauthorized", "bad token")
        body = await request.json()
        self.created.append(body)
        if body.get("mode", "text") not in ("text", "voice"):
            return problem(422, "invalid", "mode must be text or voice")
        session = self.new_session(user, agent_type=body.get("agent_type", "personal"))
        return JSONResponse(_public(session), status_code=201)

    async def _list(self, request: Request) -> Any:
        if (user := self._user(request)) is None:
            return problem(401, "unauthorized", "bad token")
        mine = [_public(s) for s in self.sessions.values() if s["user_id"] == user]
        return {"items": list(reversed(mine)), "next_cursor": None}

    async def _get(self, request: Request, sid: str) -> Any:
        user, session = self._owned(request, sid)
        if user is None:
            return problem(401, "unauthorized", "bad token")
        if session is None:
            return problem(404, "not_found", "no such session")
        return {"runs": [], **session, "active_run": self.active_run(sid)}

    async def _delete(self, request: Request, sid: str) -> Any:
        _user, session = self._owned(request, sid)
        if session is None:
            return problem(404, "not_found", "no such session")
        session["status"] = "ended"
        await self.publish(sid, self.event(sid, "session_end", {"reason": "deleted"}))
        return Response(status_code=204)

    async def _message(self, request: Request, sid: str) -> Any:
        _user, session = self._owned(request, sid)
        if session is None:
            return problem(404, "not_found", "no such session")
        body = await request.json()
        if session["active_run"] and body.get("on_busy") is None:
            return problem(409, "busy", "a run is active")
        accepted = await self._start_run(
            session, body["content"], request.headers.get("x-client-id")
        )
        return JSONResponse(accepted, status_code=202)

    async def _cancel(self, request: Request, sid: str) -> Any:
        _user, session = self._owned(request, sid)
        if session is None:
            return problem(404, "not_found", "no such session")
        run = self.runs.get(session["active_run"] or "")
        if run is None:
            return problem(409, "no_active_run", "nothing to cancel")
        run.cancelled.set()
        return JSONResponse({"run_id": run.run_id}, status_code=202)

    async def _start_run(self, session: dict[str, Any], content: str, cid: str | None) -> dict:
        sid, message_id, run_id = session["id"], new_id(), new_id()
        session["messages"].append({"id": message_id, "role": "user", "content": content})
        data = {"content": content, "message_id": message_id, "client_id": cid}
        await self.publish(sid, self.event(sid, "message", data))
        run = Run(lambda e: self.publish(sid, e), sid, run_id, session["agent_type"])
        self.runs[run_id] = run
        session["active_run"] = run_id
        task = asyncio.create_task(self._finish(session, run, content, message_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return {"message_id": message_id, "run_id": run_id}

    async def _finish(self, session: dict, run: Run, content: str, message_id: str) -> None:
        try:
            reply = await play(run, content, message_id)
            message = {"id": new_id(), "role": "assistant", "content": reply, "run_id": run.run_id}
            session["messages"].append(message)
            outcome = {"id": run.run_id, "message_id": message_id, "status": "completed"}
            outcome |= {"agent_type": run.agent, "text": reply, "notices": []}
            session.setdefault("runs", []).append(outcome)
        finally:
            session["active_run"] = None
            session["agent_type"] = run.agent

    # -- WebSocket ------------------------------------------------------------------------
    async def _ws(self, ws: WebSocket, sid: str, client_id: str = "default") -> None:
        await ws.accept()
        try:
            frame = await asyncio.wait_for(ws.receive_json(), 5)
            self.auth_frames.append(frame)
            self.auth_tokens.append(frame.get("token", ""))
            claims = verify_token(frame.get("token", ""), self.auth)
        except AuthError:
            await ws.close(4401)
            return
        session = self.sessions.get(sid)
        if session is None or session["user_id"] != claims.user_id:
            await ws.close(4404)
            return
        if session["status"] == "ended":
            await ws.close(4410)
            return
        if self.refusals:
            await ws.close(*self.refusals.pop(0))
            return
        cursor = frame.get("cursor") or ws.query_params.get("cursor")
        await self._serve(ws, sid, client_id, claims.expires_at, cursor)

    def _replay(self, sid: str, cursor: str | None) -> list[dict[str, Any]] | None:
        """The session's events after `cursor`, or None when it cannot be recovered."""
        cursors = self.cursors(sid)
        if cursor is None or cursor not in cursors:
            return None
        return self.logs[sid][cursors.index(cursor) + 1 :]

    async def _serve(
        self, ws: WebSocket, sid: str, client_id: str, expires_at: float, cursor: str | None
    ) -> None:
        device = self.devices.get((sid, client_id))
        if device is None:
            device = self.devices[(sid, client_id)] = Device()
        if device.ws is not None:
            with contextlib.suppress(Exception):
                await device.ws.close(4409)
        replay = self._replay(sid, cursor)
        recovered = replay is not None
        device.ws, device.sent, device.events = ws, 0, replay or []
        hello = {"type": "connected", "session_id": sid, "client_id": client_id}
        hello |= {"resumed": recovered, "recovered": recovered, "heartbeat_s": 25}
        hello |= {"ack_window": self.ack_window}
        active = self.active_run(sid) if self.catch_up and not recovered else None
        if active is not None:
            hello["active_run"] = active
            overlap = self.run_events.get(active["run_id"], [])[-self.catch_up_overlap :]
            device.events[:0] = overlap if self.catch_up_overlap else []
        await ws.send_json(hello)
        if cursor is not None and not CURSOR.match(cursor):
            error = {"type": "error", "code": "invalid_cursor", "message": "cursor malformed"}
            await ws.send_json(error)
        async with self.connected:
            self.hellos.append(hello)
            self.connected.notify_all()
        state = {"expires_at": expires_at}
        tasks = [
            asyncio.create_task(self._sender(ws, device)),
            asyncio.create_task(self._receiver(ws, sid, client_id, device, state)),
            asyncio.create_task(self._expiry(ws, state)),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            if device.ws is ws:
                device.ws = None

    async def _sender(self, ws: WebSocket, device: Device) -> None:
        while True:
            device.changed.clear()
            while device.sent < len(device.events):
                await ws.send_json(device.events[device.sent])
                self.sent_ids.append(device.events[device.sent]["id"])
                device.sent += 1
            await device.changed.wait()

    async def _receiver(
        self, ws: WebSocket, sid: str, cid: str, device: Device, state: dict
    ) -> None:
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                frame = await ws.receive_json()
                self.frames.append({"client_id": cid, **frame})
                await self._on_frame(ws, sid, cid, device, state, frame)

    async def _on_frame(self, ws: WebSocket, sid: str, cid: str, device: Device, state: dict,
                        frame: dict) -> None:  # fmt: skip
        kind = frame.get("type")
        if kind == "ack":
            device.ack(frame.get("id", ""))
        elif kind == "refresh":
            try:
                state["expires_at"] = verify_token(frame.get("token", ""), self.auth).expires_at
            except AuthError:
                await ws.send_json({"type": "error", "code": "bad_token", "message": "refused"})
        elif kind == "ping":
            await ws.send_json({"type": "pong"})
        elif kind == "cancel":
            run = self.runs.get(self.sessions[sid]["active_run"] or "")
            if run is not None:
                run.cancelled.set()
        elif kind == "message":
            accepted = await self._start_run(self.sessions[sid], frame["content"], cid)
            await ws.send_json({"type": "message_accepted", **accepted})

    async def _expiry(self, ws: WebSocket, state: dict) -> None:
        while (left := state["expires_at"] - time.time()) > 0:
            await asyncio.sleep(min(left, 0.2))
        await ws.close(4401)


def _public(session: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in session.items() if k not in ("messages", "active_run", "runs")}


@contextlib.asynccontextmanager
async def running(gateway: FakeGateway):  # type: ignore[no-untyped-def]
    config = uvicorn.Config(gateway.app, host="127.0.0.1", port=gateway.port, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield gateway
    finally:
        server.should_exit = True
        for device in gateway.devices.values():
            if device.ws is not None:
                with contextlib.suppress(Exception):
                    await device.ws.close(1001)
        await asyncio.wait_for(task, 10)
