"""The headline figures and issue 13's targets, derived from a run's raw results."""

from typing import Any

P99_RATIO = 2.0
"""Gateway-path p99 at most this many times the raw path's at the same offered rate."""
P99_CAP_MS = {20.0: 15.0, 40.0: 40.0}
"""Tokens/s per session (at `sessions` sessions) -> gateway-path p99 wanted below (ms)."""
CEILING_RATIO = 0.8
CEILING_MIN = 2000.0
CPU_US_MAX = 400.0
CPU_PATH = ("gateway", "broker", "publisher")
"""The processes an event crosses in direct mode (the bench's publisher is RunStream)."""
HELLOS_MIN = 500.0
KB_PER_DEVICE_MAX = 30.0


def _ok(step: dict[str, Any], limit: float) -> bool:
    return step["missing"] == 0 and step["holes"] == 0 and step["latency_ms"]["p99"] < limit


def raw_at(results: dict[str, Any], offered: float) -> dict[str, Any] | None:
    return next((r for r in results["raw"] if r["offered_per_s"] == offered), None)


def path_cpu(step: dict[str, Any]) -> float | None:
    """CPU µs per delivered event of gateway + broker + publisher (None if one is missing)."""
    cpu = step["cpu_us_per_event"]
    parts = [cpu.get(name) for name in CPU_PATH]
    return round(sum(p for p in parts if p is not None), 1) if None not in parts else None


def headline(results: dict[str, Any]) -> dict[str, Any]:
    s = results["settings"]
    limit, rate = s["p99_limit_ms"], s["scale_rate"]
    at_rate = [
        x
        for x in [*results["steps"], *results["scenarios"]]
        if x["mode"] == "direct" and x["devices"] == 1 and x["rate_per_session"] == rate
    ]
    good = [x for x in at_rate if _ok(x, limit)]
    best = max(good, key=lambda x: x["delivered_per_s"]) if good else None
    raw_max = results["raw"][-1]["delivered_per_s"] if results["raw"] else 0.0
    p99 = {}
    for step in results["steps"]:
        raw = raw_at(results, step["offered_per_s"])
        p99[step["rate_per_session"]] = {
            "gateway_ms": step["latency_ms"]["p99"],
            "raw_ms": raw["latency_ms"]["p99"] if raw else None,
        }
    main = next((x for x in results["steps"] if x["rate_per_session"] == rate), None)
    idle = {row["devices"]: row for row in results["idle"]}
    most = max(idle.values(), key=lambda r: r["devices"]) if idle else None
    storm = results.get("storm")
    return {
        "p99_by_rate": p99,
        "ceiling_events_per_s": best["delivered_per_s"] if best else 0.0,
        "ceiling_step": f"{best['sessions']} x {rate:g}/s" if best else None,
        "raw_ceiling_events_per_s": raw_max,
        "ceiling_ratio": round(best["delivered_per_s"] / raw_max, 2) if best and raw_max else None,
        "cpu_us_per_event": main["cpu_us_per_event"] if main else None,
        "path_cpu_us_per_event": path_cpu(main) if main else None,
        "hellos_per_s": storm["hellos_per_s"] if storm else None,
        "kb_per_idle_device": most["kb_per_device"] if most else None,
        "idle_devices": most["devices"] if most else 0,
    }


def targets(results: dict[str, Any], h: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target: what was measured, what was wanted, and whether it was met."""
    s = results["settings"]
    rows = []
    for rate, cap in P99_CAP_MS.items():
        got = h["p99_by_rate"].get(rate)
        if got is None:
            continue
        gw, raw = got["gateway_ms"], got["raw_ms"]
        rows.append(
            (
                f"p99 at {s['sessions']} sessions x {rate:g} tokens/s (ms; raw {raw})",
                gw,
                f"< {cap:g} and <= {P99_RATIO:g}x raw",
                gw < cap and (raw is None or gw <= P99_RATIO * raw),
            )
        )
    ceiling, raw_max = h["ceiling_events_per_s"], h["raw_ceiling_events_per_s"]
    rows.append(
        (
            f"events/s with p99 < {s['p99_limit_ms']:g} ms and no loss at {s['scale_rate']:g}"
            f"/s per session ({h['ceiling_step']}; raw flat out {raw_max})",
            ceiling,
            f">= {CEILING_RATIO:g}x raw and >= {CEILING_MIN:g}",
            ceiling >= CEILING_RATIO * raw_max and ceiling >= CEILING_MIN,
        )
    )
    cpu = h["path_cpu_us_per_event"]
    rows.append(
        (
            f"CPU µs per event, gateway + broker + publisher, {s['sessions']} x "
            f"{s['scale_rate']:g}/s",
            cpu,
            f"<= {CPU_US_MAX:g}",
            cpu is not None and cpu <= CPU_US_MAX,
        )
    )
    if h["hellos_per_s"] is not None:
        rows.append(
            (
                "connect storm: hellos/s on one gateway process",
                h["hellos_per_s"],
                f">= {HELLOS_MIN:g}",
                h["hellos_per_s"] >= HELLOS_MIN,
            )
        )
    kb = h["kb_per_idle_device"]
    if kb is not None:
        rows.append(
            (
                f"gateway memory per idle device at {h['idle_devices']} devices (KB)",
                kb,
                f"< {KB_PER_DEVICE_MAX:g}",
                kb < KB_PER_DEVICE_MAX,
            )
        )
    return [{"target": t, "measured": m, "wanted": w, "met": bool(ok)} for t, m, w, ok in rows]
