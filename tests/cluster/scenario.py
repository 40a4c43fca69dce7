"""One cluster fault scenario: devices follow a run (and a confirming test publisher) on one
session while a fault hits the broker's nodes, resuming by cursor whenever their socket drops;
then every confirmed event is accounted for."""

import asyncio
import contextlib
import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from switchboard_events import names_from
from switchboard_events.routing import shard_of

from tests.cluster.stack import ClusterStack
from tests.reliability.confirmed import ConfirmedPublisher
from tests.reliability.device import Device
from tests.reliability.helpers import check_run, create_session, send_message, token
from tests.reliability.results import Figures


@dataclass(frozen=True)
class Target:
    """What a fault aims at: the session's shard stream, and the gateway the first device is
    connected to (its process id)."""

    stream: str
    gateway_pid: int


Fault = Callable[[Target], Awaitable[str]]
"""Given its target, does the fault (and its repair) and says what it did."""


class TimedDevice(Device):
    """A Device that also keeps when each event arrived (for the longest stall)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.arrivals: list[float] = []

    def _take(self, frame: dict[str, Any]) -> None:
        if "id" in frame and "session_id" in frame:
            self.arrivals.append(time.monotonic())
        super()._take(frame)

    def longest_stall_after(self, moment: float) -> float:
        times = [moment, *(t for t in self.arrivals if t > moment)]
        return round(max(b - a for a, b in itertools.pairwise(times)) if len(times) > 1 else 0, 3)


@dataclass
class Outcome:
    figures: Figures
    missing: int
    statuses: list[str]
    unrecovered: int
    """Reconnects with a cursor whose hello said `recovered: false` (must be 0)."""


async def stream_through(
    stack: ClusterStack,
    fault: Fault,
    *,
    scenario: str,
    tokens: int,
    rate: int,
    devices: int = 1,
) -> Outcome:
    assert stack.broker is not None
    tok = token()
    sid = (await create_session(stack.url, tok))["id"]
    phones = [TimedDevice(sid, f"dev{i}", tok) for i in range(devices)]
    for i, phone in enumerate(phones):
        await phone.connect(stack.gateway_urls[i % len(stack.gateway_urls)])
    run_id = (await send_message(stack.url, tok, sid, f"/tokens {tokens} rate={rate}"))["run_id"]
    source = ConfirmedPublisher(stack.broker, sid, "token", confirm_timeout_s=None)
    feeding = asyncio.create_task(source.run())
    try:
        await asyncio.gather(
            *(p.pump(lambda d: len(d.run_events(run_id)) >= 50, 90) for p in phones)
        )
        names = names_from(stack.broker)
        stream = names.stream(shard_of(sid, stack.broker.stream_shards))
        first_gateway = stack.named("gateway")[0].proc
        assert first_gateway is not None
        fault_at = time.monotonic()
        hitting = asyncio.create_task(fault(Target(stream, first_gateway.pid)))
        rotation = itertools.cycle(stack.gateway_urls)
        await asyncio.gather(
            *(
                p.follow(
                    lambda: next(rotation),
                    lambda d: hitting.done() and d.has_type("run_end", run_id),
                    400,
                )
                for p in phones
            )
        )
        done = await hitting
        after = len(source.confirmed)
        async with asyncio.timeout(60):
            while len(source.confirmed) < after + 50:
                await asyncio.sleep(0.1)
    finally:
        source.stop.set()
        await feeding
    wanted = set(source.confirmed)
    with contextlib.suppress(TimeoutError):
        await asyncio.gather(
            *(p.follow(lambda: next(rotation), lambda d: wanted <= d.seen, 60) for p in phones)
        )
    return _account(phones, run_id, tokens, wanted, source, scenario, done, fault_at)


def _account(
    phones: list[TimedDevice],
    run_id: str,
    tokens: int,
    wanted: set[str],
    source: ConfirmedPublisher,
    scenario: str,
    done: str,
    fault_at: float,
) -> Outcome:
    published = delivered = lost = duplicated = missing = 0
    statuses = []
    for phone in phones:
        run = phone.run_events(run_id)
        ends = [e["data"].get("status", "?") for e in run if e["type"] == "run_end"]
        status = "+".join(ends) if ends else "none"
        if ends and run[-1]["type"] != "run_end":
            status += " (events after run_end)"
        statuses.append(status)
        if status == "completed":
            counts = check_run(run, tokens)
            published += counts["published"]
            delivered += counts["delivered"]
            lost += counts["lost"]
            duplicated += counts["duplicated"]
        gone = len(wanted - phone.seen)
        missing += gone
        published += len(wanted)
        delivered += len(wanted & phone.seen)
        lost += gone
    stall = max(p.longest_stall_after(fault_at) for p in phones)
    figures = Figures(
        scenario=scenario,
        done=done,
        published=published,
        delivered=delivered,
        lost=lost,
        duplicated=duplicated,
        redelivered=sum(p.redelivered for p in phones),
        recovery_s=stall,
        notes=f"{len(phones)} device(s), each counted: the run's events (/tokens {tokens}) "
        f"plus {len(wanted)} events of a confirming test publisher ({source.failed} "
        f"publishes failed unconfirmed and are not counted: {dict(source.errors)}); runs ended "
        f"{sorted(set(statuses))}; reconnects {[p.connects - 1 for p in phones]} (close codes "
        f"{[p.closes for p in phones]}), each resumed by cursor; recovery = "
        "longest gap between two events on any device after the fault began",
    )
    unrecovered = sum(r is False for p in phones for r in p.recovered)
    return Outcome(figures, missing, statuses, unrecovered)
