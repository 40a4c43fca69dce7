"""The `switchboard` command: `token` (a dev-mode token) and `chat` (talk to an agent)."""

import argparse
import asyncio
import os
import sys

import httpx

from .chat import Chat
from .client import DEFAULT_URL, SwitchboardClient
from .device import config_dir, device_id
from .errors import SwitchboardError


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="switchboard", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)
    token = commands.add_parser("token", help="print a dev-mode token for a user")
    token.add_argument("--user", default="alice")
    token.add_argument("--url", default=os.environ.get("SWITCHBOARD_URL", DEFAULT_URL))
    chat = commands.add_parser("chat", help="chat in a new or existing session")
    chat.add_argument("--session", help="an existing session id (default: a new session)")
    chat.add_argument("--user", default="alice", help="dev user (when no --token is given)")
    chat.add_argument("--token", default=os.environ.get("SWITCHBOARD_TOKEN"))
    chat.add_argument("--agent", default="personal", help="agent type of a new session")
    chat.add_argument("--url", default=os.environ.get("SWITCHBOARD_URL", DEFAULT_URL))
    chat.add_argument(
        "--device",
        help=f"this device's client_id (default: one per machine, kept in {config_dir()})",
    )
    return root


async def print_token(args: argparse.Namespace) -> int:
    print(await SwitchboardClient.dev_token(args.user, args.url))
    return 0


async def chat(args: argparse.Namespace) -> int:
    token = args.token or await SwitchboardClient.dev_token(args.user, args.url)
    client_id = args.device or device_id()
    async with SwitchboardClient(args.url, token) as client:
        if args.session:
            session = await client.get_session(args.session)
        else:  # named here, so the session has no device but this one
            session = await client.create_session(agent_type=args.agent, client_id=client_id)
        print(f"session {session['id']} (agent {session.get('agent_type')}); Ctrl-C exits")
        return await Chat(client, str(session["id"]), client_id).run()


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    command = print_token if args.command == "token" else chat
    try:
        return asyncio.run(command(args))
    except SwitchboardError as exc:
        print(f"switchboard: {exc}", file=sys.stderr)
        return 1
    except (OSError, httpx.HTTPError) as exc:
        print(f"switchboard: cannot reach {args.url}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
