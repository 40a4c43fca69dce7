"""The backends of every agent (MODEL_BACKEND and AGENTS), built at start-up: one OpenAI SDK
client and one HTTP client for AG-UI agents, shared by the agents that use them, closed when
the worker stops."""

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from .agent_config import AgentConfig
from .agents import Agent, Agents
from .backend import AgentBackend, ScriptedBackend
from .settings import WorkerSettings


@asynccontextmanager
async def agents_from(settings: WorkerSettings) -> AsyncIterator[Agents]:
    """Every agent with its backend; their clients closed on exit."""
    async with AsyncExitStack() as stack:
        make = _Factory(settings, stack)
        default = await make(settings.model_backend, None, None)
        defined = {}
        for name, config in settings.agents.items():
            defined[name] = await _agent(make, settings, name, config)
        yield Agents(default, defined)


async def _agent(
    make: "_Factory", settings: WorkerSettings, name: str, config: AgentConfig
) -> Agent:
    backend = await make(config.backend or settings.model_backend, config.model, config.url)
    tools = frozenset(config.tools) if config.tools is not None else None
    return Agent(name, backend, config.instructions, tools, config.description)


class _Factory:
    """Backends by (kind, model, url), the clients made once on first use."""

    def __init__(self, settings: WorkerSettings, stack: AsyncExitStack) -> None:
        self._settings = settings
        self._stack = stack
        self._made: dict[tuple[str, str | None, str | None], AgentBackend] = {}
        self._openai: Any = None
        self._http: Any = None

    async def __call__(self, kind: str, model: str | None, url: str | None) -> AgentBackend:
        key = (kind, model, url)
        if key not in self._made:
            self._made[key] = await self._make(kind, model, url)
        return self._made[key]

    async def _make(self, kind: str, model: str | None, url: str | None) -> AgentBackend:
        settings = self._settings
        if kind == "openai":
            from .openai_backend import OpenAIBackend, RetryPolicy  # only when used

            retry = RetryPolicy(
                settings.model_max_retries, settings.model_retry_base_s, settings.model_retry_max_s
            )
            return OpenAIBackend(await self._openai_client(), model or settings.openai_model, retry)
        if kind == "agui":
            from .agui_backend import AguiBackend  # only when used

            target = url or settings.agui_url
            assert target is not None  # settings checked it
            return AguiBackend(await self._http_client(), target)
        return ScriptedBackend(settings.word_delay_s)

    async def _openai_client(self) -> Any:
        if self._openai is None:
            from .openai_backend import check_model_server, openai_client

            settings = self._settings
            key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
            assert settings.openai_base_url is not None  # settings checked it
            client = openai_client(settings.openai_base_url, key, settings.openai_timeout_s)
            self._stack.push_async_callback(client.close)
            await check_model_server(client)
            self._openai = client
        return self._openai

    async def _http_client(self) -> Any:
        if self._http is None:
            from .agui_backend import agui_client

            client = agui_client(self._settings.agui_timeout_s)
            self._stack.push_async_callback(client.aclose)
            self._http = client
        return self._http
