"""What request handlers and background tasks share: settings, database, broker, metrics, outbox."""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from .broker import BrokerLink
from .metrics import Metrics
from .outbox import Outbox
from .settings import SessionSettings


@dataclass
class AppContext:
    settings: SessionSettings
    engine: AsyncEngine
    database: async_sessionmaker[AsyncSession]
    """Opens database sessions (`async with ctx.database.begin() as db:`)."""
    broker: BrokerLink
    metrics: Metrics
    outbox: Outbox
