"""Fault 6: a device stops reading mid-run: the gateway's memory stays flat (its outbound buffer
is bounded), it closes 4408, and the device resumes by cursor with everything."""

import asyncio
import re
import socket
import time
from urllib.parse import urlsplit

import httpx
import psutil
import pytest
import websockets
from switchboard_events import BrokerSettings

from tests.reliability.conftest import Recorder
from tests.reliability.device import Device
from tests.reliability.helpers import check_run, create_session, send_message, token
from tests.reliability.results import Figures
from tests.stack import running_stack, stack_installed

pytestmark = [pytest.mark.e2e, pytest.mark.broker, pytest.mark.db, pytest.mark.timeout(300)]

TOKENS = 50_000
"""About 10 MB of events: more than the loopback's socket buffers (a few MB) and the gateway's
OUTBOUND_MAX_BYTES together hold, so a device that stops reading does fall behind."""
RSS_BOUND_MB = 40


def _small_receive_buffer(base: str) -> socket.socket:
    """A connected socket whose receive buffer is fixed at 64 KiB (no autotuning up to the
    loopback's 32 MiB): a device on a slow link, whose stall the gateway must notice."""
    parts = urlsplit(base)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.connect((parts.hostname or "127.0.0.1", parts.port or 80))
    sock.setblocking(False)
    return sock


async def _slow_closes(base: str) -> float:
    async with httpx.AsyncClient(timeout=5) as http:
        text = (await http.get(f"{base}/metrics")).text
    found = re.search(r"^gateway_slow_consumer_closes_total (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


async def test_stalled_reader_is_closed_4408_and_resumes(
    database_url: str, broker_settings: BrokerSettings, figures: Recorder
) -> None:
    if not stack_installed():
        pytest.skip("services not installed")
    # 2 s instead of the shipped 10 s: the scenario measures that a stalled reader is closed in
    # bounded time with flat memory; a short timeout keeps its backlog and duration small.
    env = {"SLOW_CONSUMER_TIMEOUT_S": "2"}
    async with running_stack(database_url, broker_settings, env) as stack:
        gateway = psutil.Process(stack.processes["gateway"].proc.pid)  # type: ignore[union-attr]
        tok = token()
        session = await create_session(stack.url, tok)
        device = Device(session["id"], "stalled", tok)
        await device.connect(stack.url, sock=_small_receive_buffer(stack.url))
        rss_before = gateway.memory_info().rss
        run_id = (await send_message(stack.url, tok, session["id"], f"/tokens {TOKENS} rate=0"))[
            "run_id"
        ]
        await device.pump(lambda d: len(d.events) >= 1_000)

        stalled_at = time.monotonic()  # from here on the device neither reads nor acks
        peak = rss_before
        while await _slow_closes(stack.url) < 1:
            peak = max(peak, gateway.memory_info().rss)
            assert time.monotonic() - stalled_at < 30, "never closed as a slow consumer"
            await asyncio.sleep(0.1)
        closed_after = round(time.monotonic() - stalled_at, 3)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await device.pump(lambda d: False, timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4408
        await device.drop()
        resumed_at = time.monotonic()

        try:
            await device.follow(lambda: stack.url, lambda d: d.has_type("run_end", run_id), 120)
        except TimeoutError:
            pytest.fail(
                f"{len(device.run_events(run_id))} of {TOKENS + 3} events after resuming; "
                f"connects {device.connects}, closes {device.closes}, recovered {device.recovered}"
            )
        counts = check_run(device.run_events(run_id), TOKENS)
        assert counts["lost"] == 0
        growth_mb = (peak - rss_before) / 2**20
        assert growth_mb < RSS_BOUND_MB, f"gateway RSS grew {growth_mb:.1f} MB"
        await device.close()

    figures(
        "6-slow-consumer",
        Figures(
            scenario="Client stops reading (slow consumer)",
            done=f"/tokens {TOKENS} rate=0 with SLOW_CONSUMER_TIMEOUT_S=2; the device stops "
            "reading after 1 000 events, is closed 4408, then reconnects with its cursor",
            **counts,
            redelivered=device.redelivered,
            recovery_s=device.recovered_after(resumed_at),
            notes=f"closed 4408 {closed_after} s after the stall; gateway RSS "
            f"{rss_before / 2**20:.1f} MB before, peak {peak / 2**20:.1f} MB during the stall "
            f"(+{growth_mb:.1f} MB, bound {RSS_BOUND_MB} MB)",
            extra={
                "rss_before_mb": round(rss_before / 2**20, 1),
                "rss_peak_mb": round(peak / 2**20, 1),
            },
        ),
    )
