"""`python -m bench.stalls RESULTS.json PROBE_DIR`: what held up each load step's processes.

Reads the stall probe's records (`bench/stallprobe`, one file per process) and prints, per step
of the results: each process's full (generation 2) collections inside the step and the longest
collection of any generation (ms of the thread's CPU), and its event-loop stalls over 8 ms:
how many, how many spent mostly on the CPU (the loop was working: the top frame says on what)
and the rest (the loop waited for a core).
"""

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

WORKING = 0.5
"""A stall is the loop working when its thread ran at least this share of it."""


def load(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """Records per process file (`<script>-<pid>`), oldest first."""
    return {
        path.stem: [json.loads(line) for line in path.read_text().splitlines() if line]
        for path in sorted(folder.glob("*.jsonl"))
    }


def summary(records: list[dict[str, Any]], start: float, end: float) -> str | None:
    inside = [r for r in records if start <= r["t"] <= end]
    pauses = [r for r in inside if r["k"] == "gc"]
    lags = [r for r in inside if r["k"] == "lag"]
    if not pauses and not lags:
        return None
    full = [round(r["cpu_ms"]) for r in pauses if r["gen"] == 2]
    longest = max((r["cpu_ms"] for r in pauses), default=0.0)
    working = [r for r in lags if r["cpu_ms"] >= WORKING * r["ms"]]
    tops = Counter(r["stacks"][0][0].split(" < ")[0] for r in working if r["stacks"])
    text = f"full GC {full or 'none'}, longest GC {longest:.1f} ms; stalls > 8 ms: {len(lags)}"
    if lags:
        worst = max(r["ms"] for r in lags)
        text += (
            f" (longest {worst:.0f} ms), working {len(working)}, waiting {len(lags) - len(working)}"
        )
    if working:
        text += f"; working at {dict(tops.most_common(3))}"
    return text


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    results = json.loads(Path(argv[0]).read_text())
    processes = load(Path(argv[1]))
    for step in [*results["steps"], *results["scenarios"]]:
        start, end = step.get("started_at", 0.0), step.get("ended_at", 0.0)
        if not start:
            continue
        p = step["latency_ms"]
        print(
            f"{step['scenario']} {step['sessions']}x{step['devices']} at "
            f"{step['rate_per_session']:g}/s: p50 {p['p50']} ms, p99 {p['p99']} ms"
        )
        for name, records in processes.items():
            line = summary(records, start, end)
            if line:
                print(f"  {name}: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
