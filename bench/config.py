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
    mode: Literal["direct", "worker"] = "direct"
    sessions: int = Field(default=50, ge=1, le=2000)
    """Streaming sessions (one device each) in the load steps."""
    rates: list[float] = Field(default=[10, 20, 40, 80, 120, 160, 240, 320])
    """Offered tokens/s per session, stepped up until p99 or loss fails."""
    duration_s: float = Field(default=5.0, gt=0, le=120)
    """Length of each load step."""
    gateways: int = Field(default=1, ge=1, le=8)
    workers: int = Field(default=2, ge=1, le=8)
    idle_devices: list[int] = Field(default=[1000, 5000])
    client_procs: int = Field(default=4, ge=1, le=16)
    p99_limit_ms: float = Field(default=50.0, gt=0)
    out_dir: str = "bench/results"
    name: str = "latest"
    plot: bool = True
