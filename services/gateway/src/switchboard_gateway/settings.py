"""The gateway's one settings object (environment variables, read once in main())."""

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict
from switchboard_edge.auth import AuthSettings
from switchboard_edge.settings import EdgeSettings
from switchboard_events import BrokerSettings
from switchboard_runtime import RuntimeSettings

STATIC_DIR = Path(__file__).parent / "static"


class GatewaySettings(BrokerSettings, AuthSettings, EdgeSettings, RuntimeSettings):
    """Broker, JWT and listener settings plus the gateway's own limits."""

    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore")

    OPERATOR: ClassVar[frozenset[str]] = frozenset({"SESSION_URL"})
    """The settings of this class an operator sets (docs/configuration.md lists them first)."""

    session_url: str = Field(default="http://127.0.0.1:8001", alias="SESSION_URL")
    """Base URL of the session service (REST proxy target, ownership checks)."""
    ack_window: int = Field(default=256, ge=1, alias="ACK_WINDOW")
    """Told to clients in the hello (ack every half window); acks are accepted, and delivery no
    longer depends on them (a device's cursor is its position)."""
    heartbeat_s: int = Field(default=25, ge=1, alias="HEARTBEAT_S")
    """WebSocket ping interval; a peer that misses a pong for as long is dropped."""
    auth_timeout_s: float = Field(default=5.0, gt=0, alias="AUTH_TIMEOUT_S")
    """How long a WebSocket may take to send its `auth` frame (else close 4401)."""
    max_frame_bytes: int = Field(default=64 * 1024, ge=1024, alias="MAX_FRAME_BYTES")
    """Largest client frame, text or binary (close 1009 beyond)."""
    slow_consumer_timeout_s: float = Field(default=10.0, gt=0, alias="SLOW_CONSUMER_TIMEOUT_S")
    """A send that does not complete, or an ack window full, this long closes the socket 4408."""
    catchup_timeout_s: float = Field(default=5.0, gt=0, alias="CATCHUP_TIMEOUT_S")
    """How long a connect waits for the session service's catch-up state of a run in progress
    before it closes 1013 (try again)."""
    max_bad_frames: int = Field(default=10, ge=1, alias="MAX_BAD_FRAMES")
    """Frames refused as bad (JSON, type, fields) before the socket is closed 4400."""
    frame_rate_per_s: float = Field(default=20.0, gt=0, alias="FRAME_RATE_PER_S")
    """Client frames per second one socket may send (acks that release events are free)."""
    frame_burst: int = Field(default=40, ge=1, alias="FRAME_BURST")
    """Client frames one socket may send at once before FRAME_RATE_PER_S applies."""
    rate_limit_strikes: int = Field(default=20, ge=1, alias="RATE_LIMIT_STRIKES")
    """Frames refused for rate in a row (without the bucket refilling) before closing 4429."""
    typing_interval_s: float = Field(default=1.0, ge=0, alias="TYPING_INTERVAL_S")
    """Least time between two `typing` events of one device; `typing` frames that come sooner
    go out as one when it has passed (0: each frame is an event)."""
    replay_ring_bytes: int = Field(default=32 * 1024 * 1024, ge=0, alias="REPLAY_RING_BYTES")
    """Recent stream batches kept in memory, over all shards, to replay a resuming device's
    missed events (older ones are read back from the stream)."""
    outbound_max_bytes: int = Field(default=1024 * 1024, ge=1024, alias="OUTBOUND_MAX_BYTES")
    """Events waiting for one socket; beyond, it is closed 4408 and resumes by cursor."""
    ws_impl: Literal["websockets-sansio", "websockets", "wsproto"] = Field(
        default="websockets-sansio", alias="WS_IMPL"
    )
    """uvicorn's WebSocket protocol; the sans-I/O one runs no task per socket (less memory)."""
    ws_compression: bool = Field(default=False, alias="WS_COMPRESSION")
    """permessage-deflate; off because its zlib state costs ~50 KB per socket and events are
    small (turn it on for few clients on slow links)."""
    upstream_timeout_s: float = Field(default=10.0, gt=0, alias="UPSTREAM_TIMEOUT_S")
    """Timeout of one call to the session service (REST proxy, device checks)."""
    rest_requests_per_user: int = Field(default=8, ge=1, alias="REST_REQUESTS_PER_USER")
    """REST requests one user (one address, without a valid token) may have in flight through
    one gateway, each until its answer's last byte is sent; one more is 429
    `too_many_concurrent_requests` at once. Answers stream through, one chunk at a time; a
    client that takes none of a chunk for UPSTREAM_TIMEOUT_S loses the connection."""
    upstream_connections: int = Field(default=100, ge=1, alias="UPSTREAM_CONNECTIONS")
    """HTTP connections to the session service for REST (proxy, frames' calls), all kept alive
    between calls."""
    device_check_connections: int = Field(default=2, ge=1, le=256, alias="DEVICE_CHECK_CONNECTIONS")
    """Device-check requests (the check each WebSocket connect makes) in flight at once, each
    on a kept-alive HTTP connection of its own; connects that come while all are busy go
    together in the next request, up to 128 (within UPSTREAM_TIMEOUT_S)."""
    static_dir: Path = Field(default=STATIC_DIR, alias="STATIC_DIR")
    """Folder of the demo page served at `/` (the bundled page by default)."""
