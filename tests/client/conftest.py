from collections.abc import AsyncIterator

import pytest
from switchboard_client import Backoff, StreamOptions

from tests.client.fake_gateway import FakeGateway, running


@pytest.fixture
async def gateway() -> AsyncIterator[FakeGateway]:
    async with running(FakeGateway(ack_window=8)) as gw:
        yield gw


@pytest.fixture
def fast() -> StreamOptions:
    """Stream options for tests: quick reconnects and acks."""
    return StreamOptions(ack_delay_s=0.05, backoff=Backoff(base_s=0.02, cap_s=0.2))


from tests.stack import stack  # noqa: E402,F401  (the whole stack as processes, for e2e)
