"""The headline figures and targets, derived from a run's raw results."""

from typing import Any

TARGET_RATIO = 4.0
TARGET_P99_HALF_MS = 25.0
TARGET_KB_PER_DEVICE = 30.0
TARGET_DEVICES = 5000


def headline(results: dict[str, Any]) -> dict[str, Any]:
    limit = results["settings"]["p99_limit_ms"]
    gateways = results["settings"]["gateways"]
    good = [s for s in results["steps"] if _ok(s, limit)]
    best = max(good, key=lambda s: s["delivered_per_s"]) if good else None
    raw_max = results["raw"][-1]["delivered_per_s"] if results["raw"] else 0.0
    per_gateway = best["delivered_per_s"] / gateways if best else 0.0
    half = results.get("half_rate")
    idle = {row["devices"]: row for row in results["idle"]}
    most = max(idle.values(), key=lambda r: r["devices"]) if idle else None
    return {
        "gateway_events_per_s_per_process": per_gateway,
        "gateway_best_step": best,
        "raw_ceiling_events_per_s": raw_max,
        "ratio_to_raw": round(per_gateway / raw_max, 2) if raw_max else None,
        "p99_at_half_ms": half["latency_ms"]["p99"] if half else None,
        "half_latency_ms": half["latency_ms"] if half else None,
        "kb_per_idle_device": {n: r["kb_per_device"] for n, r in idle.items()},
        "connects_per_s": {n: r["connects_per_s"] for n, r in idle.items()},
        "max_devices_connected": most["connected"] if most else 0,
        "cpu_us_per_event": best["cpu_us_per_event"] if best else None,
        "lossless_events_per_s": max(
            (s["delivered_per_s"] for s in results["steps"] if s["missing"] == 0), default=0.0
        ),
    }


def _ok(step: dict[str, Any], limit: float) -> bool:
    return step["missing"] == 0 and step["holes"] == 0 and step["latency_ms"]["p99"] < limit


def targets(h: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target: what was measured, what was wanted, and whether it was met."""
    kb = max(h["kb_per_idle_device"].values(), default=None)
    rows = [
        (
            "gateway events/s per process vs raw aio-pika ceiling",
            h["ratio_to_raw"],
            f">= {TARGET_RATIO}x",
            h["ratio_to_raw"] is not None and h["ratio_to_raw"] >= TARGET_RATIO,
        ),
        (
            "p99 at 50% of max rate (ms)",
            h["p99_at_half_ms"],
            f"< {TARGET_P99_HALF_MS}",
            h["p99_at_half_ms"] is not None and h["p99_at_half_ms"] < TARGET_P99_HALF_MS,
        ),
        (
            "gateway memory per idle device (KB, worst level)",
            kb,
            f"< {TARGET_KB_PER_DEVICE}",
            kb is not None and kb < TARGET_KB_PER_DEVICE,
        ),
        (
            "devices on one gateway process",
            h["max_devices_connected"],
            f">= {TARGET_DEVICES}",
            h["max_devices_connected"] >= TARGET_DEVICES,
        ),
    ]
    return [{"target": t, "measured": m, "wanted": w, "met": bool(ok)} for t, m, w, ok in rows]
