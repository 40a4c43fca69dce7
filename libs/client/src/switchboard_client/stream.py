"""A session's live events: connect, auth, resume, ack, dedupe, catch up, detect holes,
reconnect.

`EventStream` is an async iterator of typed events (plus `RunCatchUp` and `ReloadNotice`
items) that survives dropped connections: it keeps the `cursor` of the last event it handed
over and reconnects (jittered backoff) with it, so the gateway sends the events after it; ids
already processed are skipped. A reconnect the gateway cannot resume (`recovered: false`)
yields a `ReloadNotice` with the session as stored, then the live tail.
"""

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import replace
from typing import Any, cast

from pydantic import ValidationError
from switchboard_protocol import (
    FATAL_CLOSES,
    AnyEvent,
    CloseCode,
    Event,
    UnknownEvent,
    parse_event,
)
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from . import frames
from .acks import AckState
from .dedupe import RecentIds
from .errors import ApiError, AuthFailed, GatewayUnreachable, StreamClosed, closed_error
from .notices import ReloadNotice, ReloadReason, RunCatchUp, catch_up_from, stored_response
from .options import StreamOptions
from .seqcheck import SeqTracker
from .tokens import TokenSource

log = logging.getLogger("switchboard_client")

Item = Event | RunCatchUp | ReloadNotice
FetchSession = Callable[[str], Awaitable[dict[str, Any]]]
FetchRunText = Callable[[str, str, int], Awaitable[str]]
"""(session id, run id, end): the run's text up to character `end`."""
StateListener = Callable[[str], None]

FATAL = FATAL_CLOSES
"""Close codes a reconnect cannot fix (4401 is fatal only without a token provider)."""
ABNORMAL = 1006
_JOINED = object()
"""Yielded by the connection loop after each hello (never to the application)."""


class _Dropped(Exception):
    """The connection ended; `code` says how (1006 when no close frame came)."""

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason


class EventStream:
    """`async for item in stream` yields events of one session for one device."""

    def __init__(
        self,
        *,
        url: str,
        session_id: str,
        client_id: str,
        tokens: TokenSource,
        fetch_session: FetchSession,
        options: StreamOptions | None = None,
        recent: RecentIds | None = None,
        on_state: StateListener | None = None,
        fetch_run_text: FetchRunText | None = None,
        cursor: str | None = None,
    ) -> None:
        self.url = url
        self.session_id = session_id
        self.client_id = client_id
        self.tokens = tokens
        self.options = options or StreamOptions()
        self.recent = recent or RecentIds(self.options.dedupe_capacity)
        self.seqs = SeqTracker()
        self._fetch_session = fetch_session
        self._fetch_run_text = fetch_run_text
        self._on_state = on_state
        self.state = "idle"
        self.resumed: bool | None = None
        """The last hello's `recovered` (v1 name: `resumed`)."""
        self.recovered: bool | None = None
        """The last hello's `recovered`: the events after the cursor sent followed."""
        self.cursor = cursor
        """The position of the last event handed over (processed): persist it to resume a
        later stream of this device from there (`client.events(..., cursor=...)`)."""
        self.ack_window = 256
        self.connects = 0
        self._ws: ClientConnection | None = None
        self._acks = AckState()
        self._auth_failures = 0
        self.catch_up: RunCatchUp | None = None
        """The latest catch-up this stream yielded (the hello's `active_run`), if any."""
        self.last_hello: dict[str, Any] | None = None
        """The last hello as it came; its `active_run` is exact (history may be behind)."""
        self._inner: AsyncGenerator[object, None] | None = None
        self._opener: asyncio.Future[None] | None = None
        self._iterator: AsyncGenerator[Item, None] | None = None

    # -- public API -------------------------------------------------------------------
    def __aiter__(self) -> AsyncGenerator[Item, None]:
        if self._iterator is None:
            self._iterator = self._items()
        return self._iterator

    async def __aenter__(self) -> "EventStream":
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def open(self) -> None:
        """Connect and wait for the first hello (retrying transient failures; raising
        `StreamClosed` for fatal ones). From then on every event published later reaches
        this stream (and, by its cursor, the next connection of this
        device). `async with` and `send_message` call it."""
        await asyncio.shield(self._opening())

    async def aclose(self) -> None:
        """Ack what was processed, close the socket, stop iterating."""
        if self._opener is not None and not self._opener.done():
            self._opener.cancel()
            await asyncio.gather(self._opener, return_exceptions=True)
        if self._iterator is not None:
            await self._iterator.aclose()
        if self._inner is not None:
            await self._inner.aclose()
        self._set_state("closed")

    async def send(self, kind: str, **fields: object) -> bool:
        """Send a frame (`typing`, `cancel`, `message`, `ping`) if connected; False if not."""
        if self._ws is None:
            return False
        try:
            await self._ws.send(frames.frame(kind, **fields))
        except ConnectionClosed:
            return False
        return True

    # -- the reconnect loop -----------------------------------------------------------
    def _opening(self) -> asyncio.Future[None]:
        """The one task that drives the connection loop up to its first hello."""
        if self._opener is None:
            self._inner = self._run()
            self._opener = asyncio.ensure_future(self._first_hello(self._inner))
            self._opener.add_done_callback(lambda f: f.cancelled() or f.exception())  # seen
        return self._opener

    @staticmethod
    async def _first_hello(inner: AsyncGenerator[object, None]) -> None:
        if await anext(inner) is not _JOINED:
            raise RuntimeError("the connection loop yielded before its hello")

    async def _items(self) -> AsyncGenerator[Item, None]:
        await self._opening()
        assert self._inner is not None
        async for item in self._inner:
            if item is not _JOINED:
                yield cast(Item, item)

    async def _run(self) -> AsyncGenerator[object, None]:
        try:
            while True:
                self._set_state("connecting" if self.connects == 0 else "reconnecting")
                try:
                    async with contextlib.aclosing(self._connection()) as items:
                        async for item in items:
                            yield item
                except _Dropped as dropped:
                    if await self._after_drop(dropped):
                        continue
                await asyncio.sleep(self.options.backoff.next_delay())
        finally:
            self._ws = None
            self._set_state("closed")

    async def _after_drop(self, dropped: _Dropped) -> bool:
        """Raise for fatal codes; True to reconnect at once (after 4401, with a new token)."""
        log.info("connection to %s dropped: %s %s", self.session_id, dropped.code, dropped.reason)
        if dropped.code in FATAL:
            raise closed_error(dropped.code, dropped.reason)
        if dropped.code != CloseCode.UNAUTHENTICATED:
            return False
        if not self.tokens.can_refresh or self._auth_failures >= self.options.max_auth_retries:
            raise AuthFailed(CloseCode.UNAUTHENTICATED, dropped.reason or "token rejected")
        self._auth_failures += 1
        await self.tokens.refresh()
        return True

    async def _connection(self) -> AsyncGenerator[object, None]:
        try:
            async with connect(self.url, open_timeout=self.options.hello_timeout_s) as ws:
                self._ws = ws
                async with contextlib.aclosing(self._serve(ws)) as items:
                    async for item in items:
                        yield item
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd else ABNORMAL
            raise _Dropped(code, exc.rcvd.reason if exc.rcvd else "") from exc
        except (OSError, InvalidHandshake, TimeoutError) as exc:
            raise _Dropped(ABNORMAL, str(exc) or type(exc).__name__) from exc
        finally:
            self._ws = None

    async def _serve(self, ws: ClientConnection) -> AsyncGenerator[object, None]:
        was_connected = self.connects > 0
        sent = self.cursor
        hello = await self._handshake(ws, sent)
        refresher = asyncio.create_task(self._refresh_loop(ws))
        try:
            yield _JOINED
            if (was_connected or sent is not None) and not self.recovered:
                yield await self._reload("buffer_expired")
            catch_up = self._take_catch_up(hello)
            if catch_up is not None:
                yield await self._whole(catch_up)
            async with contextlib.aclosing(self._receive(ws)) as items:
                async for item in items:
                    yield item
        finally:
            refresher.cancel()
            await self._flush_ack(ws)

    async def _handshake(self, ws: ClientConnection, cursor: str | None) -> dict[str, Any]:
        """Authenticate (with the cursor to resume from), read the hello, take its settings."""
        await ws.send(frames.auth(await self.tokens.get(), cursor))
        hello = await self._hello(ws)
        self.last_hello = hello
        was_connected = self.connects > 0 or cursor is not None
        self.connects += 1
        self.recovered = bool(hello.get("recovered", hello.get("resumed")))
        self.resumed = self.recovered
        self.ack_window = int(hello.get("ack_window") or 256)
        self._acks = AckState(self.ack_window)
        self.options.backoff.reset()
        self._auth_failures = 0
        self._set_state("resumed" if self.resumed and was_connected else "live")
        return hello

    def _take_catch_up(self, hello: dict[str, Any]) -> RunCatchUp | None:
        """The hello's `active_run`, when it tells this device more than it has seen: its
        events up to `seq` are skipped from now on."""
        catch_up = catch_up_from(self.session_id, hello.get("active_run"))
        if catch_up is None or not self.seqs.catch_up(catch_up.run_id, catch_up.seq):
            return None
        self.catch_up = catch_up
        return catch_up

    async def _whole(self, catch_up: RunCatchUp) -> RunCatchUp:
        """The catch-up with its head read (when it has one to read and the options want it);
        as it came, with its `text_offset`, when the head cannot be read."""
        fetch = self._fetch_run_text
        if not catch_up.text_offset or not self.options.whole_catch_up or fetch is None:
            return catch_up
        try:
            head = await fetch(self.session_id, catch_up.run_id, catch_up.text_offset)
        except (ApiError, GatewayUnreachable) as exc:
            log.warning("run %s: its text's head not read (%s)", catch_up.run_id, exc)
            return catch_up
        self.catch_up = replace(catch_up, text=head + catch_up.text, text_offset=0)
        return self.catch_up

    async def _hello(self, ws: ClientConnection) -> dict[str, Any]:
        async with asyncio.timeout(self.options.hello_timeout_s):
            while True:
                frame = _as_dict(await ws.recv())
                if frame.get("type") == "connected":
                    return frame
                log.warning("frame before hello ignored: %s", frame)

    # -- receiving ---------------------------------------------------------------------
    async def _receive(self, ws: ClientConnection) -> AsyncGenerator[Item, None]:
        while True:
            raw = await self._recv(ws)
            frame = _as_dict(raw)
            event_id = frame.get("id")
            if not isinstance(event_id, str):
                self._control_frame(frame)
                continue
            cursor = frame.get("cursor")
            position = cursor if isinstance(cursor, str) else None
            if event_id in self.recent:
                await self._processed(ws, event_id, position)
                continue
            event = _parse(raw)
            covered, notice = await self._check_seq(event) if event is not None else (True, None)
            if notice is not None:
                yield notice
            if event is not None and not covered and not isinstance(event, UnknownEvent):
                try:
                    yield event
                except GeneratorExit:  # the consumer stopped after handling this event
                    self._mark_processed(event_id, position)
                    raise
            await self._processed(ws, event_id, position)

    async def _recv(self, ws: ClientConnection) -> str | bytes:
        """The next frame; with `ack_delay_s`, acks pending work first when the server goes
        quiet (a nicety: the half-window acks alone keep events flowing)."""
        if self._acks.pending_id is None or self.options.ack_delay_s is None:
            return await ws.recv()
        try:
            return await asyncio.wait_for(ws.recv(), self.options.ack_delay_s)
        except TimeoutError:
            await self._flush_ack(ws)
            return await ws.recv()

    def _mark_processed(self, event_id: str, cursor: str | None) -> bool:
        """Remember the id and the event's position; True when an ack is due."""
        self.recent.add(event_id)
        if cursor is not None:
            self.cursor = cursor
        return self.options.ack == "client" and self._acks.processed(event_id)

    async def _processed(self, ws: ClientConnection, event_id: str, cursor: str | None) -> None:
        if self._mark_processed(event_id, cursor):
            await self._flush_ack(ws)

    async def _flush_ack(self, ws: ClientConnection) -> None:
        event_id = self._acks.take()
        if event_id is not None and self.options.ack == "client":
            with contextlib.suppress(ConnectionClosed):
                await ws.send(frames.ack(event_id))

    async def _check_seq(self, event: AnyEvent) -> tuple[bool, ReloadNotice | None]:
        """(whether a catch-up already covers the event, a notice to yield before it)."""
        if event.run_id is None or event.seq is None:
            return False, None
        verdict = self.seqs.check(event.run_id, event.seq, resumed=bool(self.recovered))
        if verdict == "next" or verdict == "covered":
            return verdict == "covered", None
        log.warning("run %s: %s before seq %s: reloading", event.run_id, verdict, event.seq)
        return False, await self._reload(verdict, event.run_id)

    async def _reload(self, reason: ReloadReason, run_id: str | None = None) -> ReloadNotice:
        session = await self._fetch_session(self.session_id)
        response = stored_response(session, run_id) if run_id else None
        return ReloadNotice(self.session_id, reason, session, run_id, response)

    def _control_frame(self, frame: dict[str, Any]) -> None:
        """Frames that are not events; `invalid_cursor` (the cursor sent did not parse: the
        hello said `recovered: false`) drops the cursor, so the next connect sends none."""
        kind = frame.get("type")
        if kind == "error" and frame.get("code") == "invalid_cursor":
            log.warning("the gateway refused cursor %r: dropped", self.cursor)
            self.cursor = None
        elif kind == "error":
            log.warning("gateway error frame: %s %s", frame.get("code"), frame.get("message"))
        elif kind not in ("pong", "message_accepted", "connected"):
            log.debug("frame ignored: %s", frame)

    # -- token refresh -----------------------------------------------------------------
    async def _refresh_loop(self, ws: ClientConnection) -> None:
        """Send `refresh` with a new token before the current one expires."""
        while self.tokens.can_refresh:
            left = self.tokens.seconds_left()
            if left is None or left <= 0:
                return
            await asyncio.sleep(max(0.0, left - min(self.options.refresh_margin_s, left / 2)))
            try:
                token = await self.tokens.refresh()
                await ws.send(frames.refresh(token))
            except ConnectionClosed:
                return
            except Exception:
                log.exception("token refresh failed; the gateway will close with 4401")
                return

    def _set_state(self, state: str) -> None:
        if state == self.state:
            return
        self.state = state
        if self._on_state is not None:
            self._on_state(state)


def _as_dict(raw: str | bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        log.warning("non-JSON frame ignored")
        return {}
    return value if isinstance(value, dict) else {}


def _parse(raw: str | bytes) -> AnyEvent | None:
    """The event (fields this SDK does not know are ignored), or None (with a warning) for one
    it cannot read. An `UnknownEvent` (a newer type) is not yielded, but its `seq` counts."""
    try:
        event = parse_event(raw)
    except ValidationError as exc:
        log.warning("skipping an event this SDK does not understand: %s", exc.errors()[:1])
        return None
    if isinstance(event, UnknownEvent):
        log.warning("skipping an event this SDK does not understand: type %r", event.type[:40])
    return event


__all__ = ["EventStream", "Item", "StreamClosed"]
