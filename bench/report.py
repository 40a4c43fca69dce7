"""Writing a run's results: JSON, a markdown table, and a PNG plot."""

import json
from pathlib import Path
from typing import Any

from .figures import headline, path_cpu, raw_at, targets

PROCESSES = ("gateway", "broker", "publisher", "worker", "session", "clients")


def write(results: dict[str, Any], out_dir: Path, name: str, plot: bool) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    results["headline"] = headline(results)
    results["targets"] = targets(results, results["headline"])
    paths = [out_dir / f"{name}.json", out_dir / f"{name}.md"]
    paths[0].write_text(json.dumps(results, indent=2, default=str) + "\n")
    paths[1].write_text(markdown(results))
    if plot:
        from .plot import plot_steps

        paths.append(plot_steps(results, out_dir / f"{name}.png"))
    return paths


def markdown(r: dict[str, Any]) -> str:
    s, m = r["settings"], r["machine"]
    return "\n".join(
        [
            f"# Benchmark ({s['gateways']} gateway, {s['duration_s']:g} s steps, {m['cpus']} CPUs, "
            f"load average {m.get('load_avg_1m')} at the end, took {r['elapsed_s']} s)",
            "",
            "| target | measured | wanted | met |",
            "| --- | --- | --- | --- |",
            *(
                f"| {t['target']} | {t['measured']} | {t['wanted']} | "
                f"{'yes' if t['met'] else 'no'} |"
                for t in r["targets"]
            ),
            "",
            "## Load steps (gateway path)",
            "",
            "CPU µs per delivered event of each process; `path` = gateway + broker + publisher + "
            "session service.",
            "",
            "| step | sessions x devices | tokens/s each | offered/s | delivered/s | p50 | p99 "
            "| p99.9 | lost | holes | raw p99 | " + " | ".join(PROCESSES) + " | path |",
            "| --- " * (12 + len(PROCESSES)) + "|",
            *(_step_row(x, r) for x in [*r["steps"], *r["scenarios"]]),
            "",
            "## Raw stream path (aio-pika alone: per-shard batches, one in flight per shard, "
            f"persistent with confirms, onto the shard streams; {s['sessions']} sessions; one "
            "reader from `next`)",
            "",
            "| offered/s | delivered/s | events/message | p50 | p99 | p99.9 | broker | publisher "
            "| consumer |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
            *(_raw_row(x) for x in r["raw"]),
            "",
            "## Idle devices on one gateway, and a reconnect storm",
            "",
            "| devices | connected | failed | connects/s | gateway RSS MB | KB per device "
            "| broker RSS MB | broker KB per device |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
            *(
                f"| {i['devices']} | {i['connected']} | {i['failed_this_step']} | "
                f"{i['connects_per_s']} | {i['rss_mb']} (idle {i['baseline_rss_mb']}) | "
                f"{i['kb_per_device']} | {i.get('broker_rss_mb', '-')} | "
                f"{i.get('broker_kb_per_device', '-')} |"
                for i in r["idle"]
            ),
            "",
            _storm_line(r.get("storm")),
            "",
        ]
    )


def _step_row(x: dict[str, Any], r: dict[str, Any]) -> str:
    lat, cpu = x["latency_ms"], x["cpu_us_per_event"]
    raw = raw_at(r, x["offered_per_s"]) if x["mode"] == "direct" else None
    name = x["scenario"] if x["mode"] == "direct" else f"{x['scenario']} (run workers)"
    if x.get("linger_ms"):
        name += f" {x['linger_ms']:g} ms ({x['sent'] / max(1, x['messages']):.1f} events/message)"
    return (
        f"| {name} | {x['sessions']} x {x['devices']} | {x['rate_per_session']:g} "
        f"| {x['offered_per_s']:.0f} | {x['delivered_per_s']:.0f} | {lat['p50']} | {lat['p99']} "
        f"| {lat['p99.9']} | {x['missing']} | {x['holes']} "
        f"| {raw['latency_ms']['p99'] if raw else '-'} | "
        + " | ".join(str(cpu.get(p, "-")) for p in PROCESSES)
        + f" | {path_cpu(x) if x['mode'] == 'direct' else '-'} |"
    )


def _raw_row(x: dict[str, Any]) -> str:
    lat, cpu = x["latency_ms"], x.get("cpu_us_per_event", {})
    offered = f"{x['offered_per_s']:.0f}" if x["offered_per_s"] else "max"
    return (
        f"| {offered} | {x['delivered_per_s']:.0f} | {x.get('events_per_message', '-')} "
        f"| {lat['p50']} | {lat['p99']} "
        f"| {lat['p99.9']} | {cpu.get('broker', '-')} | {cpu.get('publisher', '-')} "
        f"| {cpu.get('consumer', '-')} |"
    )


def _storm_line(storm: dict[str, Any] | None) -> str:
    if not storm:
        return "No reconnect storm in this run."
    return (
        f"Reconnect storm: {storm['connected']} of {storm['devices']} devices had their hello "
        f"again {storm['seconds']} s after all reconnected at once: **{storm['hellos_per_s']} "
        f"hellos/s** on one gateway process ({storm['failed']} failed); CPU ms per hello: "
        + ", ".join(f"{k} {v}" for k, v in storm.get("cpu_ms_per_hello", {}).items())
        + "."
    )
