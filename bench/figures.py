"""The headline figures and issue 23's targets, derived from a run's raw results."""

from typing import Any

CPU_PATH = ("gateway", "broker", "publisher", "session")
"""The processes an event crosses in direct mode (the bench's publisher is RunStream; the
session service reads every shard to persist and fold run progress)."""
CPU_US_MAX = {50: 300.0, 200: 150.0}
"""Sessions (at `scale_rate`, one device each) -> path CPU µs per delivered event wanted."""
P99_AT_50_MS = 40.0
"""p99 wanted at `sessions` x `scale_rate` (Ably's default rollup window)."""
SCALE_SESSIONS = 200
"""Sessions at `scale_rate` that must deliver everything with p99 < `p99_limit_ms`."""
FANOUT_GROWTH_MAX = 1.25
"""Broker CPU per published event with `fanout_devices` devices per session, at most this
many times the one-device figure at the same sessions and rate (it must not grow)."""
HELLOS_MIN = 1000.0
KB_PER_DEVICE_MAX = 15.0


def _ok(step: dict[str, Any], limit: float) -> bool:
    return step["missing"] == 0 and step["holes"] == 0 and step["latency_ms"]["p99"] < limit


def raw_at(results: dict[str, Any], offered: float) -> dict[str, Any] | None:
    return next((r for r in results["raw"] if r["offered_per_s"] == offered), None)


def path_cpu(step: dict[str, Any]) -> float | None:
    """CPU µs per delivered event of gateway + broker + publisher + session service (None if
    one is missing)."""
    cpu = step["cpu_us_per_event"]
    parts = [cpu.get(name) for name in CPU_PATH]
    return round(sum(p for p in parts if p is not None), 1) if None not in parts else None


def _at(
    results: dict[str, Any], sessions: int, rate: float, mode: str = "direct"
) -> dict[str, Any] | None:
    """The step of `sessions` x `rate` with one device each, in `mode` (the last one run)."""
    found = [
        x
        for x in [*results["steps"], *results["scenarios"]]
        if x["mode"] == mode
        and x["devices"] == 1
        and x["sessions"] == sessions
        and x["rate_per_session"] == rate
        and not x.get("linger_ms")
    ]
    return found[-1] if found else None


def _broker_per_published(step: dict[str, Any]) -> float | None:
    """Broker CPU µs per published event (per delivered event x devices per session)."""
    broker = step["cpu_us_per_event"].get("broker")
    return round(broker * step["devices"], 1) if broker is not None else None


def headline(results: dict[str, Any]) -> dict[str, Any]:
    s = results["settings"]
    limit, rate = s["p99_limit_ms"], s["scale_rate"]
    at_rate = [
        x
        for x in [*results["steps"], *results["scenarios"]]
        if x["mode"] == "direct"
        and x["devices"] == 1
        and x["rate_per_session"] == rate
        and not x.get("linger_ms")
    ]
    good = [x for x in at_rate if _ok(x, limit)]
    best = max(good, key=lambda x: x["delivered_per_s"]) if good else None
    raw_max = results["raw"][-1]["delivered_per_s"] if results["raw"] else 0.0
    p99 = {}
    for step in results["steps"]:
        raw = raw_at(results, step["offered_per_s"])
        p99[step["rate_per_session"]] = {
            "stack_ms": step["latency_ms"]["p99"],
            "raw_ms": raw["latency_ms"]["p99"] if raw else None,
        }
    main = _at(results, s["sessions"], rate)
    scaled = _at(results, SCALE_SESSIONS, rate)
    worker = _at(results, s["sessions"], rate, "worker")
    fanout = next((x for x in results["scenarios"] if x["scenario"] == "fanout"), None)
    idle = {row["devices"]: row for row in results["idle"]}
    most = max(idle.values(), key=lambda r: r["devices"]) if idle else None
    storm = results.get("storm")
    return {
        "p99_by_rate": p99,
        "ceiling_events_per_s": best["delivered_per_s"] if best else 0.0,
        "ceiling_step": f"{best['sessions']} x {rate:g}/s" if best else None,
        "raw_ceiling_events_per_s": raw_max,
        "cpu_us_per_event": main["cpu_us_per_event"] if main else None,
        "path_cpu_us_per_event": path_cpu(main) if main else None,
        "p99_ms": main["latency_ms"]["p99"] if main else None,
        "scaled": _summary(scaled, limit),
        "worker": _summary(worker, limit),
        "fanout_broker_us_per_published": _broker_per_published(fanout) if fanout else None,
        "single_broker_us_per_published": _broker_per_published(main) if main else None,
        "hellos_per_s": storm["hellos_per_s"] if storm else None,
        "kb_per_idle_device": most["kb_per_device"] if most else None,
        "broker_kb_per_idle_device": most.get("broker_kb_per_device") if most else None,
        "idle_devices": most["devices"] if most else 0,
    }


def _summary(step: dict[str, Any] | None, limit: float) -> dict[str, Any] | None:
    """A step's figures for a target; `delivered_all`: nothing lost and the offered rate kept
    up with (>= 90 % of it delivered per second, as `StepResult.keeps_up`)."""
    if step is None:
        return None
    return {
        "sessions": step["sessions"],
        "delivered_all": step["missing"] == 0
        and step["holes"] == 0
        and step["delivered_per_s"] >= 0.9 * step["offered_per_s"],
        "delivered_per_s": step["delivered_per_s"],
        "offered_per_s": step["offered_per_s"],
        "p99_ms": step["latency_ms"]["p99"],
        "p99_ok": step["latency_ms"]["p99"] < limit,
        "path_cpu_us_per_event": path_cpu(step),
        "worker_us_per_event": step["cpu_us_per_event"].get("worker"),
        "session_us_per_event": step["cpu_us_per_event"].get("session"),
    }


def targets(results: dict[str, Any], h: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target (issue 23): what was measured, what was wanted, and whether it was met."""
    s = results["settings"]
    rate, limit = s["scale_rate"], s["p99_limit_ms"]
    rows: list[tuple[str, Any, str, bool]] = []
    cpu = {s["sessions"]: h["path_cpu_us_per_event"]}
    if h["scaled"]:
        cpu[SCALE_SESSIONS] = h["scaled"]["path_cpu_us_per_event"]
    for sessions, most in CPU_US_MAX.items():
        if sessions in cpu:
            got = cpu[sessions]
            rows.append(
                (
                    f"CPU µs per delivered event, gateway + broker + publisher + session, "
                    f"{sessions} x {rate:g}/s",
                    got,
                    f"<= {most:g}",
                    got is not None and got <= most,
                )
            )
    scaled = h["scaled"]
    rows.append(
        (
            f"{SCALE_SESSIONS} x {rate:g}/s: everything delivered, p99 < {limit:g} ms "
            f"(p99 ms; highest rate that does: {h['ceiling_events_per_s']} events/s, "
            f"{h['ceiling_step']}; raw flat out {h['raw_ceiling_events_per_s']})",
            scaled["p99_ms"] if scaled else None,
            f"all delivered, < {limit:g}",
            bool(scaled and scaled["delivered_all"] and scaled["p99_ok"]),
        )
    )
    if h["p99_ms"] is not None:
        raw = h["p99_by_rate"].get(rate, {}).get("raw_ms")
        rows.append(
            (
                f"p99 at {s['sessions']} x {rate:g}/s (ms; raw path {raw})",
                h["p99_ms"],
                f"<= {P99_AT_50_MS:g}",
                h["p99_ms"] <= P99_AT_50_MS,
            )
        )
    worker = h["worker"]
    if worker:
        rows.append(
            (
                f"run workers, {s['sessions']} x {rate:g}/s: events/s delivered (worker "
                f"{worker['worker_us_per_event']} µs, session {worker['session_us_per_event']} "
                "µs per event)",
                worker["delivered_per_s"],
                f"everything ({worker['offered_per_s']:g}/s)",
                worker["delivered_all"],
            )
        )
    fan, one = h["fanout_broker_us_per_published"], h["single_broker_us_per_published"]
    if fan is not None and one is not None:
        rows.append(
            (
                f"fan-out {s['fanout_devices']} devices per session: broker CPU µs per published "
                f"event (1 device: {one})",
                fan,
                f"<= {FANOUT_GROWTH_MAX:g}x 1 device",
                fan <= FANOUT_GROWTH_MAX * one,
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
                f"gateway memory per idle device at {h['idle_devices']} devices (KB; broker "
                f"{h['broker_kb_per_idle_device']} KB)",
                kb,
                f"<= {KB_PER_DEVICE_MAX:g}",
                kb <= KB_PER_DEVICE_MAX,
            )
        )
    return [{"target": t, "measured": m, "wanted": w, "met": bool(ok)} for t, m, w, ok in rows]
