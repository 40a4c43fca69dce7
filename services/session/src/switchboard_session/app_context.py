"""What request handlers and background tasks share: settings, database, broker, metrics, outbox."""

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from .broker import BrokerLink
from .metrics import Metrics
from .outbox import Outbox
from .refusals import RefusalAudit
from .settings import SessionSettings
from .waiting import PerUser


@dataclass
class AppContext:
    settings: SessionSettings
    engine: AsyncEngine
    database: async_sessionmaker[AsyncSession]
    """Opens database sessions (`async with ctx.database.begin() as db:`)."""
    broker: BrokerLink
    metrics: Metrics
    outbox: Outbox
    waiting: PerUser = field(default_factory=PerUser)
    """Decisions (per user) waiting for their call's row (decisions.py)."""
    refusals: RefusalAudit = field(default_factory=RefusalAudit)
    """Refused requests' audit rows, one per source and window (refusals.py)."""
