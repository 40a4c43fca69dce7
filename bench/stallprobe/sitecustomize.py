"""Stall probe for every Python process of a bench run (diagnostics; off unless asked for).

`PYTHONPATH=bench/stallprobe BENCH_PROBE_DIR=/tmp/probe make bench` loads this module into
each process the bench starts (they inherit the environment), and each writes
`<script>-<pid>.jsonl` into that folder:
- `gc`: every cyclic collection over 2 ms, with its generation, wall time and the thread's CPU
  time (a busy machine inflates the first, not the second);
- `lag`: the event loop took over 8 ms to run a callback a watchdog thread posts every 5 ms,
  with the loop thread's CPU time meanwhile (near the lag: it was working; near 0: it waited
  for a core) and the loop thread's stacks sampled while it waited (a collection holds the GIL,
  so the watchdog often cannot even post during one: collections are timed on their own);
- `stats`: counts, total and longest pause per generation, objects frozen (every second).
`python -m bench.stalls RESULTS.json PROBE_DIR` summarises them per load step.
"""

import atexit
import collections
import gc
import json
import os
import sys
import threading
import time
from typing import Any

LAG_S = 0.008
POST_EVERY_S = 0.005
GC_LOGGED_S = 0.002


def _install(folder: str) -> None:
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"
    if sys.argv and sys.argv[0] in ("-m", "-c"):
        name = "bench" if sys.argv[0] == "-m" else "client"  # the bench; its client processes
    path = os.path.join(folder, f"{name}-{os.getpid()}.jsonl")
    lock = threading.Lock()
    buffer: list[dict[str, Any]] = []
    loops: list[Any] = []
    main_thread = threading.main_thread().ident or 0
    started = [0.0, 0.0]
    stats: dict[int, list[float]] = collections.defaultdict(lambda: [0, 0.0, 0.0])

    def emit(record: dict[str, Any]) -> None:
        with lock:
            buffer.append(record)

    def flush() -> None:
        with lock:
            records, buffer[:] = list(buffer), []
        if records:
            with open(path, "a") as out:
                out.writelines(json.dumps(r) + "\n" for r in records)

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0], started[1] = time.perf_counter(), time.thread_time()
            return
        wall, cpu = time.perf_counter() - started[0], time.thread_time() - started[1]
        s = stats[info["generation"]]
        s[0], s[1], s[2] = s[0] + 1, s[1] + cpu, max(s[2], cpu)
        if wall > GC_LOGGED_S:
            paused = {"ms": round(wall * 1e3, 2), "cpu_ms": round(cpu * 1e3, 2)}
            emit({"k": "gc", "t": time.time(), "gen": info["generation"], **paused})

    def remember_loops(cls: Any) -> None:
        init = cls.__init__

        def wrapped(self: Any, *args: Any, **kwargs: Any) -> None:
            init(self, *args, **kwargs)
            loops.append(self)

        cls.__init__ = wrapped

    def stack() -> str:
        frame, names = sys._current_frames().get(main_thread), []
        while frame is not None and len(names) < 14:
            code = frame.f_code
            names.append(f"{os.path.basename(code.co_filename)}:{frame.f_lineno}:{code.co_name}")
            frame = frame.f_back
        return " < ".join(names)

    def probe_once(loop: Any, clock: int) -> bool:
        """Post a callback, sample the stack while it waits; False once the loop is gone."""
        ran: list[float] = []
        posted, cpu0 = time.perf_counter(), time.clock_gettime(clock)
        try:
            loop.call_soon_threadsafe(lambda: ran.append(time.perf_counter()))
        except RuntimeError:
            return False
        stacks: collections.Counter[str] = collections.Counter()
        while not ran and loop.is_running():
            time.sleep(0.001)
            if not ran and time.perf_counter() - posted > LAG_S / 2:
                stacks[stack()] += 1
        lag = ran[0] - posted if ran else 0.0
        if lag > LAG_S:
            cpu = time.clock_gettime(clock) - cpu0
            lagged = {"ms": round(lag * 1e3, 2), "cpu_ms": round(cpu * 1e3, 2)}
            emit({"k": "lag", "t": time.time(), **lagged, "stacks": stacks.most_common(3)})
        return bool(ran)

    def report() -> None:
        per_gen = {
            str(g): [n, round(t * 1e3, 1), round(m * 1e3, 2)] for g, (n, t, m) in stats.items()
        }
        emit({"k": "stats", "t": time.time(), "gc": per_gen, "frozen": gc.get_freeze_count()})
        flush()

    def watch() -> None:
        loop = None
        while loop is None:
            time.sleep(0.5)
            flush()
            loop = next((x for x in list(loops) if x.is_running()), None)
        clock, reported = time.pthread_getcpuclockid(main_thread), time.time()
        while probe_once(loop, clock):
            if time.time() - reported > 1.0:
                report()
                reported = time.time()
            time.sleep(POST_EVERY_S)
        report()

    import asyncio

    remember_loops(asyncio.BaseEventLoop)
    try:
        import uvloop

        remember_loops(uvloop.Loop)
    except ImportError:
        pass
    gc.callbacks.append(on_gc)
    threading.Thread(target=watch, daemon=True, name="stall-probe").start()
    atexit.register(flush)


if os.environ.get("BENCH_PROBE_DIR"):
    _install(os.environ["BENCH_PROBE_DIR"])
