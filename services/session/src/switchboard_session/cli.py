"""`switchboard-session [serve] --host --port`, `switchboard-session migrate`,
`switchboard-session downgrade REVISION`, `switchboard-session dead-letters ACTION`."""

import argparse
import asyncio
import logging
import sys

import uvicorn
from switchboard_edge.http_guard import server_options

from .app import create_app
from .migrate import downgrade, ensure_database, prestart
from .settings import SessionSettings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="switchboard-session", description=__doc__)
    parser.add_argument(
        "command", nargs="?", default="serve", choices=["serve", "migrate", "downgrade"]
    )
    parser.add_argument(
        "revision",
        nargs="?",
        default=None,
        help="migrate: target (default head); downgrade: target (default base)",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--wait", type=float, default=60.0, help="seconds to wait for Postgres")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["dead-letters"]:
        from . import deadletters_cli

        return deadletters_cli.main(argv[1:])
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = SessionSettings()
    url = settings.async_database_url
    if args.command == "migrate":
        asyncio.run(_migrate(url, args.revision or "head", args.wait))
        print("database at", args.revision or "head")
        return 0
    if args.command == "downgrade":
        asyncio.run(ensure_database(url, args.wait))
        downgrade(url, args.revision or "base")
        return 0
    try:
        app = create_app(settings)
    except RuntimeError as exc:
        print(f"switchboard-session: {exc}", file=sys.stderr)
        return 2
    print(f"switchboard-session listening on http://{args.host}:{args.port}", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", **server_options(settings))
    return 0


async def _migrate(url: str, revision: str, wait: float) -> None:
    if revision == "head":
        await prestart(url, wait)
    else:
        from .migrate import upgrade

        await ensure_database(url, wait)
        await asyncio.to_thread(upgrade, url, revision)


if __name__ == "__main__":
    sys.exit(main())
