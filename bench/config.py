"""The benchmark's one settings object: environment (URLs) and command line (load shape)."""

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class BenchSettings(BaseSettings):
    """What to start, how much load to offer, and where to write the results."""

    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore")

    amqp_url: str = Field(default="amqp://guest:guest@127.0.0.1:5672/", alias="AMQP_URL")
    postgres_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/postgres", alias="BENCH_POSTGRES_URL"
    )
    """Admin connection used to (re)create the benchmark's database."""
    database: str = Field(default="switchboard_bench", alias="BENCH_DATABASE")
    """Prefix of the run's database (`<prefix>_<run token>`, its own per run, dropped after)."""
    queue_type: Literal["classic", "quorum"] = Field(default="classic", alias="QUEUE_TYPE")
    """The stack's work queue type (events are on the shard streams whatever it says)."""
    mode: Literal["direct", "worker"] = "direct"
    sessions: int = Field(default=50, ge=1, le=2000)
    """Streaming sessions (one device each) in the load steps."""
    rates: list[float] = Field(default=[10, 20, 40])
    """Offered tokens/s per session at `sessions` sessions, stepped up until one loses events or
    falls behind (none: no rate steps)."""
    scale_rate: float = Field(default=20, gt=0)
    """Tokens/s per session of the scale-up, fan-out and worker steps."""
    scale_sessions: list[int] = Field(default=[100, 200, 400])
    """Sessions of the scale-up steps (after `sessions`), until p99 >= the limit or a loss."""
    fanout_devices: int = Field(default=3, ge=0, le=16)
    """Devices per session in the fan-out step (0: skip)."""
    many_sessions: int = Field(default=1000, ge=0, le=5000)
    """Sessions of the many-slow-sessions step (0: skip)."""
    many_rate: float = Field(default=2, gt=0)
    """Tokens/s per session of the many-slow-sessions step."""
    linger_ms: list[float] = Field(default=[50, 100])
    """COALESCE_WINDOW_MS of the bench publisher in the linger steps (`sessions` x
    `scale_rate`): the latency/cost dial (at 20 tokens/s a session's tokens are 50 ms apart)."""
    worker_step: bool = True
    """Also run `sessions` x `scale_rate` through the real run workers (`/tokens`)."""
    storm: bool = True
    """After the idle levels, drop every idle device and reconnect them all at once."""
    raw: bool = True
    """Run the raw stream path (aio-pika alone) at the offered rates and flat out, after the
    rest."""
    duration_s: float = Field(default=4.0, gt=0, le=120)
    """Length of each load step."""
    gateways: int = Field(default=1, ge=1, le=8)
    workers: int = Field(default=2, ge=1, le=8)
    idle_devices: list[int] = Field(default=[1000, 5000])
    client_procs: int = Field(default=4, ge=1, le=16)
    p99_limit_ms: float = Field(default=50.0, gt=0)
    voice_runs: int = Field(default=0, ge=0, le=100)
    """`--voice [N]`: only time to first audio (bench/voice.py), over N voice replies."""
    abuse: bool = False
    """`--abuse`: only the history-page attack with a bystander (bench/abuse.py)."""
    out_dir: str = "bench/results"
    name: str = "latest"
    plot: bool = True
