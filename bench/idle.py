"""Idle devices: gateway and broker memory per connected device, and how fast devices
connect. A device makes nothing on the broker (the gateway reads each shard stream once), so
the broker's memory must not grow with them."""

import asyncio
import gc
from typing import Any

import psutil

from .clients import ClientReport
from .device import DeviceSpec
from .pool import ClientPool
from .stack import Stack, ps
from .usage import CpuMeter, rss_bytes

DEVICES_PER_SESSION = 15
"""With the creating device, the shipped MAX_DEVICES_PER_SESSION (16)."""
SETTLE_S = 2.0


def device_specs(stack: Stack, sessions: list[str], count: int, start: int) -> list[DeviceSpec]:
    """Devices `start`..`start+count-1`, 15 per session, all on the first gateway."""
    specs = []
    for n in range(start, start + count):
        session_id = sessions[n // DEVICES_PER_SESSION]
        specs.append(DeviceSpec(stack.ws_base(0), session_id, f"i{n}", stack.token))
    return specs


async def idle_memory(
    stack: Stack, levels: list[int], procs: int, storm: bool, broker: psutil.Process | None = None
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Open devices up to each level (cumulatively); RSS above the idle baseline per device.
    With `storm`, then drop them all and reconnect them all at once (a gateway restart as the
    devices see it): how long until every one has its hello again."""
    if not levels:
        return [], None
    gateway = ps(stack.gateways[0])
    sessions = await stack.create_sessions(-(-max(levels) // DEVICES_PER_SESSION))
    gc.collect()
    baseline = rss_bytes(gateway)
    broker_base = rss_bytes(broker) if broker is not None else None
    pools: list[ClientPool] = []
    rows: list[dict[str, Any]] = []
    opened = connected = 0
    try:
        for level in sorted(levels):
            pool = ClientPool(device_specs(stack, sessions, level - opened, opened), procs)
            pools.append(pool)
            try:
                report = await pool.open(timeout=300)
            except TimeoutError as exc:  # a machine too slow for this level: report, stop
                print(f"idle level {level}: {exc}", flush=True)
                rows.append(
                    {
                        **_row(level, connected, ClientReport(), rss_bytes(gateway), baseline),
                        "errors": [repr(exc)],
                    }
                )
                return rows, None
            opened, connected = level, connected + report.connected
            await asyncio.sleep(SETTLE_S)  # let the gateway finish its post-hello bookkeeping
            rows.append(_row(level, connected, report, rss_bytes(gateway), baseline))
            if broker is not None and broker_base is not None:
                rows[-1] |= _broker_row(rss_bytes(broker), broker_base, connected)
    finally:
        for pool in pools:
            await pool.close()
    return rows, (await reconnect_storm(stack, sessions, opened, procs) if storm else None)


async def reconnect_storm(
    stack: Stack, sessions: list[str], count: int, procs: int
) -> dict[str, Any]:
    """`count` devices reconnect at once (each client process keeps
    clients.HANDSHAKES_IN_FLIGHT handshakes going): hellos/s on one gateway process, and the
    CPU ms per hello of the gateway and the session service (steadier than hellos/s on a
    shared machine)."""
    pool = ClientPool(device_specs(stack, sessions, count, 0), procs)
    meter = CpuMeter({"gateway": [ps(stack.gateways[0])], "session": [ps(stack.session)]})
    meter.start()
    try:
        report = await pool.open(timeout=300)
        cpu = meter.stop()
    finally:
        await pool.close()
    hellos = max(1, report.connected)
    return {
        "devices": count,
        "connected": report.connected,
        "failed": report.failed,
        "first_try_failures": report.retried,
        "seconds": round(report.connect_s, 2),
        "hellos_per_s": round(report.connected / report.connect_s, 1) if report.connect_s else 0,
        "cpu_ms_per_hello": {name: round(s * 1000 / hellos, 3) for name, s in cpu.items()},
        "errors": report.errors,
    }


def _broker_row(rss: int, baseline: int, connected: int) -> dict[str, Any]:
    """The broker node's RSS (its Erlang VM) now and per device above its baseline."""
    return {
        "broker_rss_mb": round(rss / 2**20, 1),
        "broker_baseline_rss_mb": round(baseline / 2**20, 1),
        "broker_kb_per_device": round((rss - baseline) / 1024 / max(1, connected), 2),
    }


def _row(
    level: int, connected: int, report: ClientReport, rss: int, baseline: int
) -> dict[str, Any]:
    return {
        "devices": level,
        "connected": connected,
        "connected_this_step": report.connected,
        "failed_this_step": report.failed,
        "first_try_failures": report.retried,
        "errors": report.errors,
        "connects_per_s": round(report.connected / report.connect_s, 1) if report.connect_s else 0,
        "rss_mb": round(rss / 2**20, 1),
        "baseline_rss_mb": round(baseline / 2**20, 1),
        "kb_per_device": round((rss - baseline) / 1024 / max(1, connected), 2),
    }
