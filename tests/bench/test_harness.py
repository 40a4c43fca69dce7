"""The benchmark harness end to end with tiny numbers: real gateway, session service, broker."""

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from switchboard_stack import asyncpg_dsn, run_token

from bench.__main__ import parse
from bench.config import BenchSettings
from bench.report import write
from bench.runner import run

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


@pytest.fixture
async def bench_settings(
    amqp_url: str, postgres_admin_url: str, tmp_path
) -> AsyncIterator[BenchSettings]:
    admin = asyncpg_dsn(postgres_admin_url)
    assert admin.startswith("postgresql://"), admin
    settings = BenchSettings(
        AMQP_URL=amqp_url,
        BENCH_POSTGRES_URL=admin,
        BENCH_DATABASE=f"sb_bench_{run_token()}",
        sessions=3,
        rates=[5, 10],
        scale_rate=10,
        scale_sessions=[4],
        fanout_devices=2,
        many_sessions=5,
        many_rate=2,
        linger_ms=[150],
        workers=1,
        duration_s=1.0,
        idle_devices=[10],
        p99_limit_ms=60_000,  # step on regardless of this shared machine's load
        client_procs=1,
        out_dir=str(tmp_path),
        name="smoke",
    )
    yield settings
    conn = await asyncpg.connect(admin)  # the run's database goes with the test
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{settings.database}" WITH (FORCE)')
    finally:
        await conn.close()


async def test_one_small_run_measures_the_gateway_and_the_raw_broker(bench_settings) -> None:
    results = await run(bench_settings)
    paths = write(results, Path(bench_settings.out_dir), "smoke", plot=True)

    steps = results["steps"]
    assert [s["rate_per_session"] for s in steps] in ([5], [5, 10]), "steps go up, in order"
    assert all(s["missing"] == 0 and s["holes"] == 0 for s in steps), steps
    assert steps[0]["delivered"] == 3 * 5, "every scheduled token reached its device"
    assert steps[0]["latency_ms"]["p50"] > 0
    assert {"gateway", "publisher", "session", "clients"} <= set(steps[0]["cpu_us_per_event"])
    shapes = {(x["scenario"], x["sessions"], x["devices"]) for x in results["scenarios"]}
    assert {("fanout", 3, 2), ("many", 5, 1), ("worker", 3, 1)} <= shapes, shapes
    for x in results["scenarios"]:
        assert x["missing"] == 0 and x["holes"] == 0, x
    linger = next(x for x in results["scenarios"] if x["scenario"] == "linger")
    assert linger["linger_ms"] == 150 and linger["messages"] < linger["sent"], "lingering batches"
    fanout = next(x for x in results["scenarios"] if x["scenario"] == "fanout")
    assert fanout["delivered"] == 3 * 2 * 10, "each of a session's devices got every token"
    raw = results["raw"]
    direct = [
        x for x in [*steps, *results["scenarios"]] if x["mode"] == "direct" and x["devices"] == 1
    ]
    assert [r["offered_per_s"] for r in raw] == [
        *sorted({x["offered_per_s"] for x in direct}),
        None,
    ], "the raw path runs at every offered rate, then flat out"
    assert raw[0]["delivered"] == raw[0]["sent"] and raw[-1]["delivered_per_s"] > 0
    assert raw[-1]["events_per_message"] > 1, "flat out, the raw path batches per shard"
    assert results["idle"][0]["connected"] == 10
    assert results["storm"]["connected"] == 10 and results["storm"]["hellos_per_s"] > 0
    assert set(results["storm"]["cpu_ms_per_hello"]) == {"gateway", "session"}
    saved = json.loads(paths[0].read_text())
    assert {t["target"] for t in saved["targets"]} and "| target |" in paths[1].read_text()
    assert os.path.getsize(paths[2]) > 1000, "the plot was drawn"


def test_the_idle_devices_and_the_storm_run_alone() -> None:
    """`--rate` with no value skips the rate steps, `--no-raw` the raw path; defaults unchanged."""
    alone = parse("--rate --scale --fanout 0 --many 0 --linger --no-worker --no-raw".split())
    assert alone.rates == [] and alone.scale_sessions == [] and not alone.raw
    assert alone.storm and alone.idle_devices == [1000, 5000]
    default = parse([])
    assert default.rates == [10, 20, 40] and default.raw
