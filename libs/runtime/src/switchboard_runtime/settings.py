"""The process settings every service reads (environment variables, read once)."""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class RuntimeSettings(BaseSettings):
    """How a service process runs, whatever it serves."""

    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore")

    gc_freeze: bool = Field(default=True, alias="GC_FREEZE")
    """Freeze the heap once the process has started (`switchboard_runtime.heap`): the cyclic
    collector's full passes then skip the ~100 000 objects of startup, so their pauses (which
    hold up every event in flight in that process) stay a few ms instead of 30-90 ms."""
