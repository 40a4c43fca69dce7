"""What request handlers and background tasks share: settings, database, broker, metrics, outbox."""

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from .broker import BrokerLink
from .marks import IngestWaits
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
    ingest_waits: IngestWaits
    """Requests waiting until ingest has stored past their mark (marks.py)."""
    waiting: PerUser = field(default_factory=PerUser)
    """Requests (per user) waiting on ingest: decisions (decisions.py) and messages
    (routes/runs.py)."""
    refusals: RefusalAudit = field(default_factory=RefusalAudit)
    """Refused requests' audit rows, one per source and window (refusals.py)."""
