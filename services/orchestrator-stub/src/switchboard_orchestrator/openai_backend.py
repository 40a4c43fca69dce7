"""The model behind `MODEL_BACKEND=openai`: the official `openai` SDK (`AsyncOpenAI`) against
any OpenAI-compatible `base_url` (OpenAI, vLLM, Ollama, llama.cpp, LM Studio).

One turn is one streamed `chat.completions` request: text deltas are yielded as they come,
tool-call deltas are put together by `index`, and the usage of the last chunk
(`stream_options.include_usage`) ends the turn. A 429, a 5xx or a lost connection before the
stream starts is retried `MODEL_MAX_RETRIES` times with backoff (the server's `Retry-After`
when it sends one), each announced by `Retrying`; the SDK's own retries are off so every one
is seen. Closing the generator (a cancel) closes the HTTP response at once.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import openai
from openai import AsyncOpenAI

from .backend import (
    BackendError,
    Chunk,
    Message,
    ModelToolCall,
    Retrying,
    TurnEnd,
    TurnInput,
    Usage,
)

RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
PROBE_TIMEOUT_S = 3.0
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    base_s: float = 1.0
    max_s: float = 30.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds before retry `attempt` (1..): the server's wish, else doubling from base."""
        wanted = retry_after if retry_after is not None else self.base_s * 2 ** (attempt - 1)
        return max(0.0, min(wanted, self.max_s))


class OpenAIBackend:
    offers_tools = True
    offers_transfers = True

    def __init__(self, client: AsyncOpenAI, model: str, retry: RetryPolicy) -> None:
        self._client = client
        self._model = model
        self._retry = retry
        self._where = f"model server {str(client.base_url).rstrip('/')} (MODEL_BACKEND=openai)"

    async def turn(
        self,
        messages: Sequence[Message],
        tools: Sequence[dict[str, Any]],
        agent_type: str,
        *,
        final: bool = False,
        about: TurnInput = TurnInput(),
    ) -> AsyncIterator[Chunk]:
        if about.instructions:
            messages = [{"role": "system", "content": about.instructions}, *messages]
        attempt = 0
        while True:
            try:
                stream = await self._open(messages, tools, final)
                break
            except openai.APIError as exc:
                attempt += 1
                if not _retryable(exc) or attempt > self._retry.max_retries:
                    raise BackendError(f"{self._where}: {_describe(exc)}") from exc
                delay = self._retry.delay(attempt, _retry_after(exc))
                yield Retrying(attempt, delay, f"{self._where}: {_describe(exc)}")
                await asyncio.sleep(delay)
        async with stream:
            try:
                async for item in _read(stream):
                    yield item
            except openai.APIError as exc:
                raise BackendError(f"{self._where}: {_describe(exc)}") from exc

    async def _open(
        self, messages: Sequence[Message], tools: Sequence[dict[str, Any]], final: bool
    ) -> Any:
        extra: dict[str, Any] = {}
        if tools:
            extra["tools"] = list(tools)
            extra["tool_choice"] = "none" if final else "auto"
        return await self._client.chat.completions.create(  # type: ignore[call-overload]
            model=self._model,
            messages=list(messages),
            stream=True,
            stream_options={"include_usage": True},
            **extra,
        )


async def _read(stream: Any) -> AsyncIterator[Chunk]:
    """Text deltas as they come, then one TurnEnd with the calls and the usage."""
    calls: dict[int, dict[str, str]] = {}
    usage: Usage | None = None
    async for chunk in stream:
        if chunk.usage is not None:
            usage = Usage(chunk.usage.prompt_tokens or 0, chunk.usage.completion_tokens or 0)
        for choice in chunk.choices[:1]:
            delta = choice.delta
            if delta.content:
                yield delta.content
            for part in delta.tool_calls or []:
                _add_call_delta(calls, part)
    done = [ModelToolCall(c["name"], c["arguments"]) for _, c in sorted(calls.items())]
    yield TurnEnd([call for call in done if call.name], usage)


def _add_call_delta(calls: dict[int, dict[str, str]], part: Any) -> None:
    """Fold one streamed tool-call fragment into the call at its `index`."""
    call = calls.setdefault(part.index or 0, {"name": "", "arguments": ""})
    function = part.function
    if function is not None:
        call["name"] += function.name or ""
        call["arguments"] += function.arguments or ""


def _retryable(exc: openai.APIError) -> bool:
    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return True
    return isinstance(exc, openai.APIStatusError) and exc.status_code in RETRY_STATUSES


def _retry_after(exc: openai.APIError) -> float | None:
    response = getattr(exc, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _describe(exc: openai.APIError) -> str:
    if isinstance(exc, openai.APIStatusError):
        return f"answered {exc.status_code}: {str(exc.message)[:200]}"
    if isinstance(exc, openai.APITimeoutError):
        return "no answer in time (OPENAI_TIMEOUT_S)"
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__
        return f"unreachable ({cause or exc})"[:300] if cause is not None else "unreachable"
    return f"stream failed: {str(exc)[:200]}"


async def check_model_server(client: AsyncOpenAI, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """At start-up, one `GET /models`: a server that does not answer, or refuses the key, is
    named in a warning (the worker starts anyway; each run then fails with `model_error`).
    Any other answer, even 404 from a server without that route, counts as reachable."""
    where = f"model server OPENAI_BASE_URL={str(client.base_url).rstrip('/')}"
    try:
        await asyncio.wait_for(client.models.list(), timeout_s)
    except TimeoutError:
        log.warning("%s: no answer within %ss; runs will fail until it answers", where, timeout_s)
        return False
    except openai.AuthenticationError as exc:
        log.warning("%s refused the API key (OPENAI_API_KEY): %s", where, exc.status_code)
        return False
    except openai.APIStatusError:
        return True
    except openai.APIError as exc:
        log.warning("%s: %s; runs will fail until it answers", where, _describe(exc))
        return False
    return True


def openai_client(base_url: str, api_key: str | None, timeout_s: float) -> AsyncOpenAI:
    """The SDK client the backend streams with (close it when the worker stops). Without a
    key it sends a placeholder: local servers (Ollama, llama.cpp) ignore it."""
    return AsyncOpenAI(
        base_url=base_url, api_key=api_key or "unused", timeout=timeout_s, max_retries=0
    )
