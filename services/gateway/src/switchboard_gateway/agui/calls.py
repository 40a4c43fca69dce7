"""The session service calls an AG-UI stream makes, their refusals as `AguiRefused` (the API's
error envelope)."""

from typing import Any

from ..parts import SocketParts
from ..upstream import Answer, UpstreamUnavailable
from .request import AguiRefused


async def upstream(call: Any) -> Answer:
    try:
        answer: Answer = await call
    except UpstreamUnavailable as exc:
        raise AguiRefused(503, "upstream_unavailable", "session service unavailable") from exc
    return answer


def refuse_unless_ok(answer: Answer) -> None:
    if not answer.ok:
        code, message = answer.error()
        raise AguiRefused(answer.status, code, message, answer.retry_after)


async def session_of(parts: SocketParts, token: str, session_id: str) -> dict[str, Any]:
    answer = await upstream(parts.session_service.session(token, session_id))
    refuse_unless_ok(answer)
    return answer.body if isinstance(answer.body, dict) else {}


class RunText:
    """A run's text from a given character on: the tail a catch-up or outcome carries, after
    the head read from the session service (`GET .../runs/{run_id}/text`) when it starts
    before that tail."""

    def __init__(self, parts: SocketParts, token: str, session_id: str, run_id: str) -> None:
        self.service = parts.session_service
        self.token, self.session_id, self.run_id = token, session_id, run_id

    async def since(self, start: int, tail_offset: int, tail: str) -> str:
        if start >= tail_offset:
            return tail[start - tail_offset :]
        head: list[str] = []
        offset = start
        while offset < tail_offset:
            call = self.service.run_text(self.token, self.session_id, self.run_id, offset)
            answer = await upstream(call)
            refuse_unless_ok(answer)
            piece = answer.body if isinstance(answer.body, dict) else {}
            chunk = str(piece.get("text") or "")
            if not chunk:
                break
            head.append(chunk)
            offset += len(chunk)
        return "".join(head)[: tail_offset - start] + tail
