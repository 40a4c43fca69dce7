"""Throughput and latency percentiles against offered load (matplotlib, Agg backend)."""

from pathlib import Path
from typing import Any


def plot_steps(results: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps, raw = results["steps"], [r for r in results["raw"] if r["offered_per_s"]]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), dpi=80)
    for rows, label in ((steps, "gateway"), (raw, "raw aio-pika")):
        offered = [r["offered_per_s"] for r in rows]
        left.plot(offered, [r["delivered_per_s"] for r in rows], marker="o", label=label)
    left.set(xlabel="offered events/s", ylabel="delivered events/s", title="Throughput")
    left.legend()
    offered = [r["offered_per_s"] for r in steps]
    for pct in ("p50", "p90", "p99", "p99.9"):
        right.plot(offered, [max(r["latency_ms"][pct], 0.1) for r in steps], marker=".", label=pct)
    right.axhline(results["settings"]["p99_limit_ms"], color="grey", linestyle="--")
    right.set(xlabel="offered events/s", ylabel="ms", yscale="log", title="Gateway latency")
    right.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
