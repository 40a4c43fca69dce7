"""Long texts the REST API cuts, read whole: a history page carries a message's `content` and a
run outcome's `text` up to HISTORY_CONTENT_CHARS (`truncated`), a catch-up's `text` as its tail
(`text_offset`); the rest is read piece by piece (`{"offset", "text", "total_chars",
"next_offset"}`, docs/protocol.md)."""

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

GetJson = Callable[..., Awaitable[Any]]
"""`RestApi.json`: (method, path, params=...) -> the answer's JSON."""


def message_path(session_id: str, message_id: str) -> str:
    return (
        f"/ai/sessions/{quote(session_id, safe='')}/messages/{quote(message_id, safe='')}/content"
    )


def run_path(session_id: str, run_id: str) -> str:
    return f"/ai/sessions/{quote(session_id, safe='')}/runs/{quote(run_id, safe='')}/text"


async def read_text(get: GetJson, path: str, start: int = 0, end: int | None = None) -> str:
    """Characters `start` up to `end` (the end of the text when None), following `next_offset`."""
    parts: list[str] = []
    offset: int | None = start
    while offset is not None and (end is None or offset < end):
        params = {"offset": offset} | ({"limit": end - offset} if end is not None else {})
        piece = await get("GET", path, params=params)
        parts.append(str(piece["text"]))
        offset = piece["next_offset"]
        if not piece["text"]:
            break  # nothing more there (a text that shrank cannot be read on)
    return "".join(parts)


async def complete(get: GetJson, session: dict[str, Any]) -> dict[str, Any]:
    """The session page with every cut text read whole: `truncated` contents and run outcome
    texts, and the active run's `text` from `text_offset` 0."""
    sid = str(session["id"])
    for message in session.get("messages") or []:
        if message.get("truncated"):
            path = message_path(sid, str(message["id"]))
            message["content"] += await read_text(get, path, len(message["content"]))
            message["truncated"] = False
    for run in session.get("runs") or []:
        if run.get("truncated"):
            run["text"] += await read_text(get, run_path(sid, str(run["id"])), len(run["text"]))
            run["truncated"] = False
    active = session.get("active_run")
    if active and active.get("text_offset"):
        head = await read_text(get, run_path(sid, str(active["id"])), 0, active["text_offset"])
        active["text"], active["text_offset"] = head + active["text"], 0
    return session
