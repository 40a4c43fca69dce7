"""The current access token, its expiry, and how to get a new one."""

import base64
import binascii
import inspect
import json
import time
from collections.abc import Awaitable, Callable

TokenProvider = Callable[[], str | Awaitable[str]]
"""Returns a fresh token (sync or async); called before expiry and after a 401/4401."""


def token_expiry(token: str) -> float | None:
    """The `exp` claim of a JWT, read without verifying (the server verifies)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, int | float) else None


class TokenSource:
    """Holds the token; `refresh()` asks the provider for a new one (if there is one)."""

    def __init__(self, token: str | None, provider: TokenProvider | None = None) -> None:
        if token is None and provider is None:
            raise ValueError("give a token or a token_provider")
        self._token = token
        self.provider = provider

    @property
    def can_refresh(self) -> bool:
        return self.provider is not None

    async def get(self) -> str:
        if self._token is None:
            return await self.refresh()
        return self._token

    async def refresh(self) -> str:
        if self.provider is None:
            raise RuntimeError("no token_provider to refresh the token with")
        value = self.provider()
        token = await value if inspect.isawaitable(value) else value
        if not isinstance(token, str) or not token:
            raise ValueError("token_provider returned no token")
        self._token = token
        return token

    def seconds_left(self) -> float | None:
        exp = token_expiry(self._token) if self._token else None
        return None if exp is None else exp - time.time()
