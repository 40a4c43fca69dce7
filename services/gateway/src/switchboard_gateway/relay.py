"""An upstream answer relayed to the client as it arrives: the body streams through one chunk at
a time (the next is read once the client has taken the last: the client's pace is the
upstream's), and the upstream response is closed in `finally`, whether the body was all sent,
the client went away, stalled or the upstream broke mid-body (then the client's connection is
closed before the body's end, which it sees as an error, never as a short answer)."""

import asyncio
import logging
from collections.abc import Callable

import httpx
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

log = logging.getLogger(__name__)

KEEP_HEADERS = frozenset(
    {
        "content-type",
        "content-length",
        "content-encoding",
        "retry-after",
        "location",
        "cache-control",
        "www-authenticate",
    }
)


class Relayed(Response):
    """An ASGI response of `answer` (sent with `stream=True`); `done` runs once it is over."""

    def __init__(self, answer: httpx.Response, done: Callable[[], None], stall_s: float) -> None:
        super().__init__(status_code=answer.status_code)
        self.answer = answer
        self.done = done
        self.stall_s = stall_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        relaying = asyncio.ensure_future(self._relay(send))
        leaving = asyncio.ensure_future(_disconnect(receive))
        try:
            await asyncio.wait([relaying, leaving], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (relaying, leaving):
                task.cancel()
            await asyncio.gather(relaying, leaving, return_exceptions=True)
            try:
                await self.answer.aclose()
            finally:
                self.done()

    async def _relay(self, send: Send) -> None:
        headers = [
            (k.encode("latin-1"), v.encode("latin-1"))
            for k, v in self.answer.headers.items()
            if k.lower() in KEEP_HEADERS
        ]
        start = {"type": "http.response.start", "status": self.answer.status_code}
        await send({**start, "headers": headers})
        try:
            async for chunk in self.answer.aiter_raw():
                async with asyncio.timeout(self.stall_s):
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except httpx.HTTPError as exc:
            log.warning("session service answer broke off mid-body: %r", exc)
            return  # the body is not ended: the server closes the client's connection
        except TimeoutError:
            log.info("client took no REST body for %.0f s; closing", self.stall_s)
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _disconnect(receive: Receive) -> None:
    """Returns when the client has gone away (the request body was read before)."""
    while (await receive())["type"] != "http.disconnect":
        pass
