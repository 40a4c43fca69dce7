"""Writing a run's results: JSON, a markdown table, and a PNG plot."""

import json
from pathlib import Path
from typing import Any

from .figures import headline, targets


def write(results: dict[str, Any], out_dir: Path, name: str, plot: bool) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    results["headline"] = headline(results)
    results["targets"] = targets(results["headline"])
    paths = [out_dir / f"{name}.json", out_dir / f"{name}.md"]
    paths[0].write_text(json.dumps(results, indent=2, default=str) + "\n")
    paths[1].write_text(markdown(results))
    if plot:
        from .plot import plot_steps

        paths.append(plot_steps(results, out_dir / f"{name}.png"))
    return paths


def markdown(r: dict[str, Any]) -> str:
    h, s = r["headline"], r["settings"]
    lines = [
        f"# Benchmark ({s['mode']} mode, {s['sessions']} sessions, {s['gateways']} gateway, "
        f"{s['duration_s']:g} s steps, {r['machine']['cpus']} CPUs, took {r['elapsed_s']} s)",
        "",
        "| target | measured | wanted | met |",
        "| --- | --- | --- | --- |",
        *(
            f"| {t['target']} | {t['measured']} | {t['wanted']} | {'yes' if t['met'] else 'no'} |"
            for t in r["targets"]
        ),
        "",
        f"Gateway: **{h['gateway_events_per_s_per_process']:.0f} events/s** per process "
        f"(p99 < {s['p99_limit_ms']:g} ms, nothing lost); raw aio-pika ceiling "
        f"**{h['raw_ceiling_events_per_s']:.0f} events/s**; ratio **{h['ratio_to_raw']}x**. "
        f"Highest rate delivered without loss (any latency): "
        f"**{h['lossless_events_per_s']:.0f} events/s**.",
        "",
        "## Load steps (gateway)",
        "",
        "| tokens/s per session | offered/s | delivered/s | p50 | p90 | p99 | p99.9 | missing "
        "| holes | CPU µs/event (gateway / broker / publisher or worker) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        *(_step_row(x) for x in [*r["steps"], *([r["half_rate"]] if r["half_rate"] else [])]),
        "",
        "## Raw broker (aio-pika, one message per event, confirms)",
        "",
        "| rate per queue | offered/s | delivered/s | p50 | p90 | p99 | p99.9 |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *(_raw_row(x) for x in r["raw"]),
        "",
        "## Idle devices on one gateway",
        "",
        "| devices | connected | failed | connects/s | gateway RSS MB | KB per device |",
        "| --- | --- | --- | --- | --- | --- |",
        *(
            f"| {i['devices']} | {i['connected']} | {i['failed_this_step']} | "
            f"{i['connects_per_s']} | {i['rss_mb']} (idle {i['baseline_rss_mb']}) | "
            f"{i['kb_per_device']} |"
            for i in r["idle"]
        ),
        "",
    ]
    return "\n".join(lines)


def _step_row(x: dict[str, Any]) -> str:
    lat, cpu = x["latency_ms"], x["cpu_us_per_event"]
    source = cpu.get("worker", cpu.get("bench_publisher"))
    return (
        f"| {x['rate_per_session']:g} | {x['offered_per_s']:.0f} | {x['delivered_per_s']:.0f} "
        f"| {lat['p50']} | {lat['p90']} | {lat['p99']} | {lat['p99.9']} | {x['missing']} "
        f"| {x['holes']} | {cpu.get('gateway')} / {cpu.get('broker')} / {source} |"
    )


def _raw_row(x: dict[str, Any]) -> str:
    lat = x["latency_ms"]
    rate = f"{x['rate_per_session']:g}" if x["rate_per_session"] else "max"
    offered = f"{x['offered_per_s']:.0f}" if x["offered_per_s"] else "-"
    return (
        f"| {rate} | {offered} | {x['delivered_per_s']:.0f} | {lat['p50']} | {lat['p90']} "
        f"| {lat['p99']} | {lat['p99.9']} |"
    )
