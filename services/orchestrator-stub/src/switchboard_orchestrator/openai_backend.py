"""An OpenAI-compatible streaming chat backend (`POST {base}/chat/completions`, SSE)."""

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx

from .backend import BackendError
from .request import HistoryItem


class OpenAIBackend:
    """Streams `choices[0].delta.content` of each `data: {...}` line until `data: [DONE]`."""

    def __init__(self, client: httpx.AsyncClient, base_url: str, model: str) -> None:
        self._client = client
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._model = model

    async def stream(
        self, message: str, history: Sequence[HistoryItem], agent_type: str
    ) -> AsyncIterator[str]:
        body = {"model": self._model, "stream": True, "messages": _messages(message, history)}
        try:
            async with self._client.stream("POST", self._url, json=body) as response:
                if response.status_code != 200:
                    text = (await response.aread()).decode(errors="replace")[:200]
                    raise BackendError(f"model answered {response.status_code}: {text}")
                async for line in response.aiter_lines():
                    token = _token_of(line)
                    if token is _DONE:
                        return
                    if token:
                        yield str(token)
        except httpx.HTTPError as exc:
            raise BackendError(f"model unreachable: {exc!r}") from exc


_DONE = object()


def _messages(message: str, history: Sequence[HistoryItem]) -> list[dict[str, str]]:
    turns = [{"role": item.role, "content": item.content} for item in history]
    return [*turns, {"role": "user", "content": message}]


def _token_of(line: str) -> object:
    """The content of one SSE line, `_DONE` at the end, None for anything else."""
    if not line.startswith("data:"):
        return None
    payload = line[5:].strip()
    if payload == "[DONE]":
        return _DONE
    try:
        chunk: Any = json.loads(payload)
        return chunk["choices"][0]["delta"].get("content") if chunk["choices"] else None
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        raise BackendError(f"malformed stream chunk: {payload[:200]}") from exc


def openai_client(api_key: str | None, timeout_s: float) -> httpx.AsyncClient:
    """The HTTP client the backend streams with (close it when the worker stops)."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    return httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(timeout_s, connect=10.0))
