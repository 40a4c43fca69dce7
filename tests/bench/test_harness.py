"""The benchmark harness end to end with tiny numbers: real gateway, session service, broker."""

import json
import os
from pathlib import Path

import pytest
from switchboard_stack import asyncpg_dsn, run_token

from bench.config import BenchSettings
from bench.report import write
from bench.runner import run

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


@pytest.fixture
def bench_settings(amqp_url: str, postgres_admin_url: str, tmp_path) -> BenchSettings:
    admin = asyncpg_dsn(postgres_admin_url)
    assert admin.startswith("postgresql://"), admin
    return BenchSettings(
        AMQP_URL=amqp_url,
        BENCH_POSTGRES_URL=admin,
        BENCH_DATABASE=f"sb_bench_{run_token()}",
        sessions=3,
        rates=[5, 10],
        duration_s=1.0,
        idle_devices=[10],
        p99_limit_ms=60_000,  # step on regardless of this shared machine's load
        client_procs=1,
        out_dir=str(tmp_path),
        name="smoke",
    )


async def test_one_small_run_measures_the_gateway_and_the_raw_broker(bench_settings) -> None:
    results = await run(bench_settings)
    paths = write(results, Path(bench_settings.out_dir), "smoke", plot=True)

    steps = results["steps"]
    assert [s["rate_per_session"] for s in steps] in ([5], [5, 10]), "steps go up, in order"
    assert all(s["missing"] == 0 and s["holes"] == 0 for s in steps), steps
    assert steps[0]["delivered"] == 3 * 5, "every scheduled token reached its device"
    assert steps[0]["latency_ms"]["p50"] > 0
    assert results["half_rate"]["rate_per_session"] == steps[-1]["rate_per_session"] / 2
    raw = results["raw"]
    assert [r["rate_per_session"] for r in raw] == [*(s["rate_per_session"] for s in steps), None]
    assert raw[0]["delivered"] == 3 * 5 and raw[-1]["delivered_per_s"] > 0
    assert results["idle"][0]["connected"] == 10
    saved = json.loads(paths[0].read_text())
    assert {t["target"] for t in saved["targets"]} and "| target |" in paths[1].read_text()
    assert os.path.getsize(paths[2]) > 1000, "the plot was drawn"
