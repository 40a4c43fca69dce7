"""Throughput, p99 and CPU per event against offered load, stack beside the raw stream path
(matplotlib, Agg backend)."""

from pathlib import Path
from typing import Any

from .figures import path_cpu


def plot_steps(results: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    every = [*results["steps"], *results["scenarios"]]
    steps = sorted(
        (x for x in every if x["mode"] == "direct" and x["scenario"] in ("rate", "scale")),
        key=lambda x: x["offered_per_s"],
    )
    others = [x for x in every if x not in steps]
    raw = [r for r in results["raw"] if r["offered_per_s"]]
    fig, (thru, lat, cpu) = plt.subplots(1, 3, figsize=(15, 5), dpi=80)
    for rows, label in ((steps, "gateway path"), (raw, "raw stream path")):
        offered = [r["offered_per_s"] for r in rows]
        thru.plot(offered, [r["delivered_per_s"] for r in rows], marker="o", label=label)
        lat.plot(offered, [max(r["latency_ms"]["p99"], 0.1) for r in rows], marker="o", label=label)
    thru.set(xlabel="offered events/s", ylabel="delivered events/s", title="Throughput")
    lat.axhline(results["settings"]["p99_limit_ms"], color="grey", linestyle="--")
    lat.set(xlabel="offered events/s", ylabel="p99 ms", yscale="log", title="p99 latency")
    offered = [r["offered_per_s"] for r in steps]
    cpu.plot(offered, [path_cpu(r) or 0 for r in steps], marker="o", label="gateway path total")
    for name in ("gateway", "broker", "publisher"):
        cpu.plot(
            offered, [r["cpu_us_per_event"].get(name) or 0 for r in steps], marker=".", label=name
        )
    raw_cpu = [sum(v or 0 for v in r.get("cpu_us_per_event", {}).values()) for r in raw]
    cpu.plot(
        [r["offered_per_s"] for r in raw], raw_cpu, marker="o", linestyle="--", label="raw total"
    )
    for x in others:  # fan-out, many sessions, linger, run workers: one point each
        label = x["scenario"] + (f" {x['linger_ms']:g} ms" if x.get("linger_ms") else "")
        lat.plot([x["offered_per_s"]], [max(x["latency_ms"]["p99"], 0.1)], "x", label=label)
        total = sum(x["cpu_us_per_event"].get(n) or 0 for n in ("gateway", "broker", "publisher"))
        cpu.plot([x["offered_per_s"]], [total], "x", label=label)
    cpu.set(xlabel="offered events/s", ylabel="CPU µs per event", title="CPU per event")
    for ax in (thru, lat, cpu):
        ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
