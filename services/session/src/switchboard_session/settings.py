"""The session service's settings: one object, read once from the environment."""

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from switchboard_edge.auth import AuthSettings
from switchboard_edge.settings import EdgeSettings
from switchboard_events import BrokerSettings
from switchboard_protocol.commands import RUN_LEASE_S
from switchboard_runtime import RuntimeSettings

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/switchboard"


_PLAIN_DRIVERS = {"postgresql", "postgres", "postgresql+psycopg2"}


def to_asyncpg_url(url: str) -> str:
    """`postgresql://...` (or `postgres://`) spelled for SQLAlchemy's asyncpg driver."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return url  # not a URL: create_engine says so
    if parsed.drivername not in _PLAIN_DRIVERS:
        return url
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


class SessionSettings(BrokerSettings, AuthSettings, EdgeSettings, RuntimeSettings):
    """Broker, JWT and listener settings plus the session service's own."""

    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore")

    OPERATOR: ClassVar[frozenset[str]] = frozenset(
        {
            "DATABASE_URL",
            "MIGRATE_ON_START",
            "PUBLIC_WS_BASE",
            "SESSION_TTL_S",
            "MAX_ACTIVE_RUNS_PER_USER",
            "RUN_LEASE_S",
        }
    )
    """The settings of this class an operator sets (docs/configuration.md lists them first)."""

    database_url: str = Field(default=DEFAULT_DATABASE_URL, alias="DATABASE_URL")
    """Postgres URL (`postgresql://` or `postgresql+asyncpg://`); created when missing."""
    migrate_on_start: bool = Field(default=True, alias="MIGRATE_ON_START")
    """Create the database when missing and run `alembic upgrade head` at start."""
    db_pool_size: int = Field(default=10, ge=1, alias="DB_POOL_SIZE")
    """Database connections per process."""
    session_ttl_s: float = Field(default=3600, gt=0, alias="SESSION_TTL_S")
    """An idle session expires this long after its last activity."""
    sweep_interval_s: float = Field(default=30, gt=0, alias="SWEEP_INTERVAL_S")
    """How often the sweeper looks for idle sessions to expire."""
    rate_sessions_per_min: int = Field(default=30, ge=1, alias="RATE_LIMIT_SESSIONS_PER_MIN")
    """Sessions one user may create per minute (all replicas together)."""
    rate_messages_per_min: int = Field(default=120, ge=1, alias="RATE_LIMIT_MESSAGES_PER_MIN")
    """Messages one user may send per minute (all replicas together)."""
    rate_decisions_per_s: int = Field(default=20, ge=1, alias="RATE_LIMIT_DECISIONS_PER_S")
    """Tool decisions one user may send per second, REST and `tool_decision` frames together
    (all replicas together; the gateway's FRAME_RATE_PER_S, 20, for one socket's frames);
    429 `rate_limited` beyond."""
    rate_connects_per_min: int = Field(default=300, ge=1, alias="RATE_LIMIT_CONNECTS_PER_MIN")
    """WebSocket connects one user may make per minute, every device and gateway replica
    together (refused ones count too); close 4429 `connect_rate_limited` beyond."""
    rate_device_connects_per_min: int = Field(
        default=30, ge=1, alias="RATE_LIMIT_DEVICE_CONNECTS_PER_MIN"
    )
    """WebSocket connects of one device (session and `client_id`) per minute, on any gateway
    replica (refused ones count too); close 4429 `connect_rate_limited` beyond."""
    max_pending_decisions_per_user: int = Field(
        default=4, ge=1, alias="MAX_PENDING_DECISIONS_PER_USER"
    )
    """Requests of one user that one replica keeps waiting at once for ingest to store what
    their answer depends on (decisions for calls not stored yet, messages refused while a run
    ends: each up to INGEST_WAIT_S); one more decision is 429 `too_many_pending_decisions` at
    once, one more message gets its refusal without the wait."""
    rate_audio_bytes_per_min: int = Field(
        default=20 * 1024 * 1024, ge=1, le=2**31 - 1, alias="RATE_LIMIT_AUDIO_BYTES_PER_MIN"
    )
    """Audio bytes one user may send per minute, over `POST .../audio` and WebSocket binary
    frames together (all replicas together); 429 `audio_rate_limited` beyond."""
    max_active_runs_per_user: int = Field(default=3, ge=1, alias="MAX_ACTIVE_RUNS_PER_USER")
    """Runs one user may have active at once across all sessions and replicas; a message that
    would start another is refused with 429 `too_many_runs` (`on_busy: "enqueue"` on a busy
    session still queues behind that session's run)."""
    history_max_messages: int = Field(default=100, ge=0, le=10_000, alias="HISTORY_MAX_MESSAGES")
    """Most earlier messages (user, assistant, tool calls and results) a run request carries;
    older ones are left out and the run says so in a `warning` `history_truncated`."""
    history_max_chars: int = Field(default=100_000, ge=0, alias="HISTORY_MAX_CHARS")
    """Most characters of earlier messages a run request carries (newest kept first)."""
    history_page_bytes: int = Field(default=1024 * 1024, ge=64 * 1024, alias="HISTORY_PAGE_BYTES")
    """Most bytes of messages and run outcomes one `GET /ai/sessions/{id}` page carries (at
    least one message whatever its size): a page stops adding older messages when the next
    would pass it, and `messages_before` pages on from there."""
    history_content_chars: int = Field(
        default=32_000, ge=1000, le=1_000_000, alias="HISTORY_CONTENT_CHARS"
    )
    """Longest message `content` and run outcome `text` a history page carries (their head),
    and the longest piece `GET .../messages/{id}/content` and `GET .../runs/{id}/text` answer;
    longer ones are cut (`truncated`) and read on in pieces."""
    catchup_text_chars: int = Field(
        default=16_000, ge=1000, le=1_000_000, alias="CATCHUP_TEXT_CHARS"
    )
    """Longest `active_run.text` in a hello or `GET /ai/sessions/{id}`: the tail of the run's
    text (`text_offset` says where it starts; the head is `GET .../runs/{id}/text`)."""
    ingest_wait_s: float = Field(default=8.0, gt=0, alias="INGEST_WAIT_S")
    """Longest wait of a request whose answer depends on events not stored yet (a message
    refused `run_active`/`too_many_runs`, a decision for an unknown call of an active run): it
    publishes a mark on the session's shard and waits until ingest has stored past it, then
    looks once more. Only a lagging ingest makes a request wait this long (a loaded machine
    lagged more than 4 s); keep it below the gateway's UPSTREAM_TIMEOUT_S (10 s), so the
    request is answered before the gateway gives up on it."""
    public_ws_base: str | None = Field(default=None, alias="PUBLIC_WS_BASE")
    """When set (e.g. `wss://chat.example.com`), `ws_url` is absolute."""
    persist_prefetch: int = Field(default=64, ge=1, alias="PERSIST_PREFETCH")
    """Stream batches each of ingest's shard readers holds unacked (its credit)."""
    ingest_flush_ms: float = Field(default=50, ge=0, alias="INGEST_FLUSH_MS")
    """The shortest time between two of a shard's ingest transactions: what arrives meanwhile
    is stored (and folded for catch-up) together; history and run outcomes are stored up to
    this much later. A catch-up request does not wait for it (what was read is stored at once,
    then the answer is read)."""
    ingest_retry_s: float = Field(default=3.0, gt=0, alias="INGEST_RETRY_S")
    """How often a standby replica tries to take over ingest (the Postgres advisory lock the
    owner holds on a connection of its own)."""
    ingest_check_s: float = Field(default=2.0, gt=0, alias="INGEST_CHECK_S")
    """How often the owner checks that the connection holding the ingest lock still answers
    (it stops ingesting when it does not; the stored offsets fence it meanwhile)."""
    max_devices_per_session: int = Field(default=16, ge=1, alias="MAX_DEVICES_PER_SESSION")
    """Devices (`client_id`s, each with its own buffer) one session may have; a new one beyond
    is refused (REST 429 `too_many_devices`, WebSocket close 4429)."""
    max_devices_per_user: int = Field(default=64, ge=1, alias="MAX_DEVICES_PER_USER")
    """Devices one user may have over all their active sessions."""
    progress_prefetch: int = Field(default=2000, ge=1, alias="PROGRESS_PREFETCH")
    """Unanswered requests (catch-ups, lease renewals) the owner takes from the RPC queue
    (`ai.run-progress`) at once."""
    persist_max_tries: int = Field(default=5, ge=1, alias="PERSIST_MAX_TRIES")
    """Tries of an event that fails for a transient reason before it is dead-lettered (its
    shard waits meanwhile; a database outage is waited out without counting; bad data is
    dead-lettered at once)."""
    audit_refused_window_s: float = Field(default=60.0, gt=0, alias="AUDIT_REFUSED_WINDOW_S")
    """Refused requests (bad tokens, rate limits) are audited once per source (address, user)
    and window: the first at once, the rest as one row with their count (`repeats`) when the
    window is over."""
    audit_retention_s: float = Field(default=90 * 24 * 3600, ge=0, alias="AUDIT_RETENTION_S")
    """Audit rows older than this are deleted by the sweeper, oldest first (0: kept forever)."""
    audio_retention_s: float = Field(default=0, ge=0, alias="AUDIO_RETENTION_S")
    """How long a run's uploaded audio is kept after the run ended (0: cleared when its
    `run_end` is stored; the sweeper clears the rest)."""
    outbox_poll_s: float = Field(default=2.0, gt=0, alias="OUTBOX_POLL_S")
    """How often the outbox relay looks for rows another replica or a crash left behind (rows
    this process commits go out at once, without waiting for the poll)."""
    run_lease_s: float = Field(default=RUN_LEASE_S, gt=0, alias="RUN_LEASE_S")
    """A run whose worker renewed nothing (no renewal, no event) for this long ends `failed`
    with `error` `worker_lost`; each run request carries it, so the worker holding the run
    stops it after as long without a confirmed renewal (set here only)."""
    run_start_timeout_s: float = Field(default=30.0, gt=0, alias="RUN_START_TIMEOUT_S")
    """A run no worker has taken this long after it was sent (its request's `start_by`) ends
    `failed` with `error` `no_worker` once RUN_LEASE_S more has passed, freeing the session;
    a worker that gets the request later drops it."""
    broker_retry_s: float = Field(default=1.0, gt=0, alias="BROKER_RETRY_S")
    """Pause between attempts to (re)connect to the broker."""

    @property
    def async_database_url(self) -> str:
        return to_asyncpg_url(self.database_url)
