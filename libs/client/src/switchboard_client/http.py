"""The REST half of the protocol over httpx, with error mapping and one retry after a 401."""

from typing import Any

import httpx

from .errors import GatewayUnreachable, RateLimited, Unauthorized, api_error
from .tokens import TokenSource


def raise_for_error(response: httpx.Response) -> None:
    """An ApiError for a non-2xx answer, with the server's `error.code` and `error.message`."""
    if response.is_success:
        return
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    problem = body.get("error") if isinstance(body, dict) else None
    if isinstance(problem, dict):
        code, message = str(problem.get("code", "error")), str(problem.get("message", ""))
    else:
        code, message = "http_error", str(body)[:200] or response.reason_phrase
    error = api_error(response.status_code, code, message, body)
    if isinstance(error, RateLimited):
        error.retry_after = _float_or_none(response.headers.get("Retry-After"))
    raise error


def _float_or_none(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class RestApi:
    """Calls `/ai/...` on the gateway with the current token."""

    def __init__(self, http: httpx.AsyncClient, tokens: TokenSource) -> None:
        self.http = http
        self.tokens = tokens

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = await self._send(method, path, await self.tokens.get(), **kwargs)
        if response.status_code == 401 and self.tokens.can_refresh:
            response = await self._send(method, path, await self.tokens.refresh(), **kwargs)
        raise_for_error(response)
        return response

    async def _send(self, method: str, path: str, token: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        return await request(self.http, method, path, headers=headers, **kwargs)

    async def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return (await self.call(method, path, **kwargs)).json()


async def request(http: httpx.AsyncClient, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """`http.request`, a transport failure raised as `GatewayUnreachable` (one line)."""
    try:
        return await http.request(method, path, **kwargs)
    except httpx.TransportError as exc:
        raise GatewayUnreachable(str(http.base_url).rstrip("/"), exc) from None


async def fetch_dev_token(http: httpx.AsyncClient, user_id: str) -> str:
    """`POST /ai/dev/token` (dev mode only)."""
    response = await request(http, "POST", "/ai/dev/token", json={"user_id": user_id})
    if response.status_code == 401:
        raise Unauthorized(401, "unauthorized", "dev tokens refused")
    raise_for_error(response)
    return str(response.json()["token"])
