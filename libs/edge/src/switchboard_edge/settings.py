"""Limits every public HTTP listener applies before a request reaches the app (read once).

The settings are here so that the gateway and the session service share one definition; the
uvicorn side (`http_guard.py`) needs the `server` extra of this package.
"""

import ipaddress
from typing import ClassVar

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class EdgeSettings(BaseSettings):
    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore")

    OPERATOR: ClassVar[frozenset[str]] = frozenset({"TRUSTED_PROXIES"})
    """The settings of this class an operator sets (docs/configuration.md lists them first)."""

    max_header_bytes: int = Field(default=64 * 1024, ge=1024, alias="MAX_HEADER_BYTES")
    """Longest request line plus headers; beyond, 431 and the connection is closed."""
    header_timeout_s: float = Field(default=10.0, gt=0, alias="HEADER_TIMEOUT_S")
    """A connection must send a whole request line and headers within this long (else 408
    and closed), whether it just opened or is between requests."""
    keepalive_timeout_s: int = Field(default=20, ge=1, alias="KEEPALIVE_TIMEOUT_S")
    """An idle keep-alive connection is closed after this long (longer than the gateway's
    5 s upstream idle time, so the gateway never reuses one the server is closing)."""
    max_connections: int = Field(default=10_000, ge=1, alias="MAX_CONNECTIONS")
    """Open connections (HTTP and WebSocket) per process; beyond, new ones get 503 and close."""
    listen_backlog: int = Field(default=2048, ge=1, alias="LISTEN_BACKLOG")
    """Connections the kernel queues before they are accepted."""
    trusted_proxies: str = Field(default="", alias="TRUSTED_PROXIES")
    """Comma-separated addresses or networks whose `X-Forwarded-For` is believed (empty: none;
    the peer address is the client)."""

    max_json_body_bytes: int = Field(default=64 * 1024, ge=1024, alias="MAX_JSON_BODY_BYTES")
    """Largest REST request body other than audio (413 `body_too_large` beyond, found while
    the body streams in)."""
    max_audio_bytes: int = Field(default=10 * 1024 * 1024, ge=1, alias="MAX_AUDIO_BYTES")
    """Largest audio utterance (`POST .../audio`)."""
    max_message_chars: int = Field(default=32_000, ge=1, alias="MAX_MESSAGE_CHARS")
    """Longest message content (413 `message_too_large` beyond). A message body may be
    MAX_JSON_BODY_BYTES plus 12 bytes per character (an emoji escaped as `\\ud83d\\ude00`),
    so every message this allows fits. The gateway and the session service read this one
    definition: set it once for both."""

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses(cls, value: str) -> str:
        for item in filter(None, (part.strip() for part in value.split(","))):
            ipaddress.ip_network(item, strict=False)  # ValueError names the bad entry
        return value

    @property
    def proxies(self) -> list[str]:
        return [part.strip() for part in self.trusted_proxies.split(",") if part.strip()]
