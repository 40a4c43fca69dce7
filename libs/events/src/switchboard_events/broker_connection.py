"""Opening the broker connection: robust (reconnects by itself), over every node of a cluster.

A process is given one or several broker URLs (`BrokerSettings.broker_urls`). It starts at a
random one (so processes spread over the nodes) and, whenever a connection attempt is made
(the first, or a reconnect after a loss), takes the next URL in turn: a dead node costs one
failed attempt, not a stall. After a whole round of failures the pause between attempts
doubles, from `RECONNECT_BASE_S` up to `RECONNECT_MAX_S`, and is reset by a success.

aio-pika's RobustConnection restores channels, queues, bindings and consumers after a
reconnect; it takes one URL, so `ClusterConnection` points it at the next URL before each
attempt. Publishes in flight when a connection dies fail (`PublishFailed` in Publisher): a
message is reported sent only once a node confirmed it.

Both kinds of connection write through `corked.CorkedWriter`: the frames of one event-loop
turn leave in one send.
"""

import logging
import random
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import aio_pika
from aio_pika import RobustConnection
from aio_pika.abc import AbstractConnection, AbstractRobustConnection
from yarl import URL

from .corked import CorkedTransportFactory
from .settings import BrokerSettings

log = logging.getLogger(__name__)

RECONNECT_BASE_S = 0.5
RECONNECT_MAX_S = 8.0
CONNECT_TIMEOUT_S = 10.0
"""One connection attempt's limit: a node that vanished (no refusal) costs this, then the next."""
_PARENT_ATTEMPT = "_RobustConnection__connect_transport"
"""RobustConnection's private per-attempt method (aio-pika pinned in constraints.txt;
tests/events/test_failover.py fails if it is renamed)."""


class CorkedConnection(aio_pika.Connection):
    """aio-pika's plain connection over a CorkedWriter."""

    def __init__(self, url: URL, loop: Any = None, **kwargs: Any):
        super().__init__(url, loop, **kwargs)
        self.kwargs["transport_factory"] = CorkedTransportFactory()


class ClusterConnection(RobustConnection):
    """A robust connection that tries the next of several URLs on every (re)connect attempt."""

    def __init__(self, url: URL, loop: Any = None, *, urls: Sequence[str], **kwargs: Any):
        super().__init__(url, loop, **kwargs)
        self.kwargs["transport_factory"] = CorkedTransportFactory()
        self._urls = [URL(u) for u in urls]
        self._turn = random.randrange(len(self._urls))
        self._failures = 0
        self.reconnect_interval = RECONNECT_BASE_S

    async def _RobustConnection__connect_transport(self) -> None:  # overrides the private one
        # the first connection tries every URL before failing; a reconnect tries one per call
        tries = len(self._urls) if self.connection_attempt == 0 else 1
        for attempt in range(tries):
            self.url = self._urls[self._turn % len(self._urls)]
            self._turn += 1
            try:
                await getattr(RobustConnection, _PARENT_ATTEMPT)(self)
            except Exception as exc:
                self._failed()
                if attempt + 1 == tries:
                    raise
                log.warning("broker at %s unreachable: %r", self, exc)
            else:
                self._failures = 0
                self.reconnect_interval = RECONNECT_BASE_S
                log.info("broker connected at %s", self)
                return

    def _failed(self) -> None:
        self._failures += 1
        rounds = self._failures // len(self._urls)
        self.reconnect_interval = min(RECONNECT_BASE_S * 2**rounds, RECONNECT_MAX_S)


async def connect_cluster(
    urls: Sequence[str], name: str = "switchboard"
) -> AbstractRobustConnection:
    """A robust connection to one of `urls` (see ClusterConnection); raises when none answers
    the first time, retries for ever after a loss. Query parameters of the first URL apply."""
    connection = ClusterConnection(
        URL(urls[0]), urls=urls, client_properties={"connection_name": name}
    )
    try:
        await connection.connect(timeout=CONNECT_TIMEOUT_S)
    except BaseException:
        # connect() started a reconnect task that outlives a cancelled caller and retries for
        # ever (it swallows cancels until close() is called)
        await connection.close()
        raise
    return connection


async def connect_any(urls: Sequence[str], name: str = "switchboard") -> AbstractConnection:
    """A plain (not robust) connection to the first of `urls`, from a random start, that
    answers; the last failure when none does."""
    start = random.randrange(len(urls))
    error: Exception | None = None
    for url in [*urls[start:], *urls[:start]]:
        try:
            return await aio_pika.connect(
                url,
                client_properties={"connection_name": name},
                timeout=CONNECT_TIMEOUT_S,
                connection_class=CorkedConnection,
            )
        except (OSError, TimeoutError, aio_pika.exceptions.AMQPError) as exc:
            log.warning("broker at %s unreachable: %r", URL(url).with_password(None), exc)
            error = exc
    assert error is not None
    raise error


@asynccontextmanager
async def broker_connection(
    settings: BrokerSettings, name: str = "switchboard"
) -> AsyncIterator[AbstractRobustConnection]:
    connection = await connect_cluster(settings.broker_urls, name)
    try:
        yield connection
    finally:
        await connection.close()
