"""What every Switchboard process (gateway, session service, run and tool workers) does around
its work, whatever it serves: `heap` (the startup heap frozen, under `GC_FREEZE`)."""

from .settings import RuntimeSettings

__all__ = ["RuntimeSettings"]
