"""`SwitchboardClient`: the REST calls and live event streams of one user, over one base URL."""

import asyncio
import logging
import secrets
from types import TracebackType
from typing import Any

import httpx

from . import texts
from .dedupe import RecentIds
from .errors import StreamClosed
from .frames import ws_url
from .http import RestApi, fetch_dev_token
from .options import StreamOptions
from .stream import EventStream, StateListener
from .tokens import TokenProvider, TokenSource

DEFAULT_URL = "http://127.0.0.1:8000"
log = logging.getLogger("switchboard_client")


class SwitchboardClient:
    """`async with SwitchboardClient(url, token) as c:` then REST calls and `c.events(id)`."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        token: str | None = None,
        *,
        token_provider: TokenProvider | None = None,
        timeout_s: float = 15.0,
        stream_options: StreamOptions | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.tokens = TokenSource(token, token_provider)
        self.stream_options = stream_options
        self._timeout_s = timeout_s
        self._http: httpx.AsyncClient | None = None
        self._streams: list[EventStream] = []
        self._recent: dict[tuple[str, str], RecentIds] = {}
        self._latest: dict[tuple[str, str], EventStream] = {}
        """The newest stream of each (session, device): where its next stream resumes."""

    async def __aenter__(self) -> "SwitchboardClient":
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=self._timeout_s)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            for stream in list(self._streams):
                await stream.aclose()
        finally:
            if self._http is not None:
                await self._http.aclose()
                self._http = None

    @property
    def rest(self) -> RestApi:
        if self._http is None:
            raise RuntimeError("use `async with SwitchboardClient(...) as client:`")
        return RestApi(self._http, self.tokens)

    @classmethod
    async def dev_token(cls, user_id: str, base_url: str = DEFAULT_URL) -> str:
        """A dev-mode token for `user_id` from `POST /ai/dev/token`."""
        async with httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=15.0) as http:
            return await fetch_dev_token(http, user_id)

    # -- REST --------------------------------------------------------------------------
    async def create_session(
        self,
        agent_type: str = "personal",
        mode: str = "text",
        metadata: dict[str, Any] | None = None,
        client_id: str | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"agent_type": agent_type, "mode": mode, "metadata": metadata or {}}
        if client_id is not None:
            body["client_id"] = client_id
        return dict(await self.rest.json("POST", "/ai/sessions", json=body))

    async def list_sessions(
        self, status: str | None = None, limit: int | None = None, cursor: str | None = None
    ) -> Any:
        """The caller's sessions, newest first (the gateway's paginated JSON, as is)."""
        query = {"status": status, "limit": limit, "cursor": cursor}
        params = {key: value for key, value in query.items() if value is not None}
        return await self.rest.json("GET", "/ai/sessions", params=params)

    async def get_session(
        self,
        session_id: str,
        *,
        messages_limit: int | None = None,
        before: int | None = None,
        full_texts: bool = False,
    ) -> dict[str, Any]:
        """The session with a page of its history (`messages_before` pages back). A page cuts
        long texts: `truncated` message contents and run outcome texts (their head), the active
        run's `text` from `text_offset` (its tail); `full_texts=True` reads each of them whole
        (more requests)."""
        query = {"messages_limit": messages_limit, "before": before}
        params = {key: value for key, value in query.items() if value is not None}
        session = dict(await self.rest.json("GET", f"/ai/sessions/{session_id}", params=params))
        return await texts.complete(self.rest.json, session) if full_texts else session

    async def message_content(self, session_id: str, message_id: str) -> str:
        """A message's whole content (a `truncated` one's, read piece by piece)."""
        return await texts.read_text(self.rest.json, texts.message_path(session_id, message_id))

    async def run_text(self, session_id: str, run_id: str, end: int | None = None) -> str:
        """A run's text (its tokens so far) up to character `end` (all of it when None): the
        head before a catch-up's `text_offset`."""
        return await texts.read_text(self.rest.json, texts.run_path(session_id, run_id), 0, end)

    async def _session_for_reload(self, session_id: str) -> dict[str, Any]:
        return await self.get_session(session_id, full_texts=True)

    async def send_message(
        self,
        session_id: str,
        content: str,
        on_busy: str | None = None,
        metadata: dict[str, Any] | None = None,
        client_id: str | None = None,
    ) -> dict[str, Any]:
        """202 `{"message_id", "run_id"}`; raises `Busy` while a run is active.

        First opens this client's streams of the session and waits for their hellos, so their
        devices are connected before the message is published: they get its echo and every
        event of its run. The message carries `client_id` (default: the device of this
        client's stream of the session) as `X-Client-Id`, so that device knows its echo.
        """
        streams = await self._open_streams(session_id)
        client_id = client_id or next((s.client_id for s in streams), None)
        body: dict[str, Any] = {"content": content, "metadata": metadata or {}}
        if on_busy is not None:
            body["on_busy"] = on_busy
        headers = {"X-Client-Id": client_id} if client_id else {}
        path = f"/ai/sessions/{session_id}/message"
        return dict(await self.rest.json("POST", path, json=body, headers=headers))

    async def _open_streams(self, session_id: str) -> list[EventStream]:
        """This client's streams of the session that are (now) connected."""
        streams = [s for s in self._streams if s.session_id == session_id and s.state != "closed"]
        for stream in streams:
            try:
                await asyncio.wait_for(stream.open(), stream.options.hello_timeout_s)
            except (TimeoutError, StreamClosed) as exc:
                log.warning("stream %s not connected before sending: %r", stream.client_id, exc)
        return streams

    async def cancel(self, session_id: str) -> str:
        """Stop the session's active run (it ends with `run_end` `cancelled`); its run id. No
        active run raises `Busy` (`no_active_run`)."""
        answer = await self.rest.json("POST", f"/ai/sessions/{session_id}/cancel")
        return str(answer["run_id"])

    async def decide_tool(
        self, session_id: str, call_id: str, approve: bool, reason: str | None = None
    ) -> None:
        """Answer a `tool_call` whose data has `requires_approval`: the first decision from any
        device counts (a later one raises `ApiError` with code `already_decided`)."""
        body: dict[str, Any] = {"call_id": call_id, "approve": approve}
        if reason is not None:
            body["reason"] = reason
        await self.rest.call("POST", f"/ai/sessions/{session_id}/tool_decisions", json=body)

    async def delete_session(self, session_id: str) -> None:
        await self.rest.call("DELETE", f"/ai/sessions/{session_id}")

    # -- live events -------------------------------------------------------------------
    def events(
        self,
        session_id: str,
        client_id: str | None = None,
        *,
        on_state: StateListener | None = None,
        options: StreamOptions | None = None,
        cursor: str | None = None,
        resume: bool = True,
    ) -> EventStream:
        """The session's events for this device, across reconnects (see `EventStream`).

        `cursor` (a `stream.cursor` the app saved) resumes there: the events after it come
        first. Without it, a device this client streamed before resumes where its last stream
        stopped; a new one starts live (with the catch-up of a run in progress).
        `resume=False` starts without a cursor whatever came before: for an app that just
        rebuilt its view from history (which may be a moment behind the stream), the hello's
        catch-up then joins the live tail exactly."""
        client_id = client_id or f"py-{secrets.token_hex(4)}"
        recent = self._recent.setdefault((session_id, client_id), RecentIds())
        if cursor is None and resume:
            cursor = self.cursor(session_id, client_id)
        stream = EventStream(
            url=ws_url(self.base_url, session_id, client_id),
            session_id=session_id,
            client_id=client_id,
            tokens=self.tokens,
            fetch_session=self._session_for_reload,
            fetch_run_text=self.run_text,
            options=options or self.stream_options,
            recent=recent,
            on_state=on_state,
            cursor=cursor,
        )
        self._streams = [s for s in self._streams if s.state != "closed"] + [stream]
        self._latest[(session_id, client_id)] = stream
        return stream

    def cursor(self, session_id: str, client_id: str) -> str | None:
        """The cursor of the last event this device's newest stream handed over (None before
        any): persist it to resume later with `events(..., cursor=...)`."""
        stream = self._latest.get((session_id, client_id))
        return stream.cursor if stream is not None else None
