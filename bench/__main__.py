"""`python -m bench [--sessions S] [--rate R ...] [--duration D] [--mode direct|worker]`."""

import argparse
import asyncio
import sys
from pathlib import Path

from pydantic import ValidationError
from switchboard_runtime import RuntimeSettings
from switchboard_runtime.heap import settle_heap

from .clients import raise_fd_limit
from .config import BenchSettings
from .report import write
from .runner import run


def parse(argv: list[str]) -> BenchSettings:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--sessions", type=int, help="streaming sessions (one device each)")
    parser.add_argument(
        "--rate", type=float, nargs="*", dest="rates", help="tokens/s per session, stepped up"
    )
    parser.add_argument("--duration", type=float, dest="duration_s", help="seconds per step")
    parser.add_argument("--mode", choices=["direct", "worker"], help="of the rate steps")
    parser.add_argument("--scale-rate", type=float, dest="scale_rate")
    parser.add_argument(
        "--scale", type=int, nargs="*", dest="scale_sessions", help="sessions of scale-up steps"
    )
    parser.add_argument("--fanout", type=int, dest="fanout_devices", help="devices per session")
    parser.add_argument("--many", type=int, dest="many_sessions", help="many slow sessions")
    parser.add_argument("--many-rate", type=float, dest="many_rate")
    parser.add_argument(
        "--linger", type=float, nargs="*", dest="linger_ms", help="COALESCE_WINDOW_MS steps"
    )
    parser.add_argument("--no-worker", dest="worker_step", action="store_false", default=None)
    parser.add_argument("--no-storm", dest="storm", action="store_false", default=None)
    parser.add_argument("--no-raw", dest="raw", action="store_false", default=None)
    parser.add_argument("--gateways", type=int)
    parser.add_argument("--workers", type=int)
    parser.add_argument(
        "--idle", type=int, nargs="*", dest="idle_devices", help="idle device levels"
    )
    parser.add_argument("--client-procs", type=int, dest="client_procs")
    parser.add_argument("--out", dest="out_dir")
    parser.add_argument("--name")
    parser.add_argument("--no-plot", dest="plot", action="store_false", default=None)
    parser.add_argument(
        "--voice",
        type=int,
        nargs="?",
        const=5,
        dest="voice_runs",
        help="only time to first audio (bench/voice.py), over N runs (5)",
    )
    parser.add_argument(
        "--abuse",
        action="store_true",
        default=None,
        help="only the history-page attack with a bystander (bench/abuse.py)",
    )
    given = {k: v for k, v in vars(parser.parse_args(argv)).items() if v is not None}
    return BenchSettings(**given)


def main(argv: list[str] | None = None) -> int:
    try:
        bench = parse(sys.argv[1:] if argv is None else argv)
    except ValidationError as exc:
        print(f"bench: bad settings:\n{exc}", file=sys.stderr)
        return 2
    if bench.abuse:
        from .abuse import run_alone as abuse_alone

        return abuse_alone(bench)
    if bench.voice_runs:
        from .voice import run_alone

        return run_alone(bench.amqp_url, bench.voice_runs, Path(bench.out_dir))
    raise_fd_limit()
    if RuntimeSettings().gc_freeze:
        settle_heap()  # the bench publishes tokens: it starts up as the run workers do
    try:
        import uvloop

        results = uvloop.run(run(bench))
    except ImportError:
        results = asyncio.run(run(bench))
    for path in write(results, Path(bench.out_dir), bench.name, bench.plot):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
