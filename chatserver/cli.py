"""The ``livebridge`` command: serve, chat, token, translate-worker, models, bench, db, export."""

from __future__ import annotations

import argparse
import asyncio
import sys

from chatserver import config


def _serve(args: argparse.Namespace) -> int:
    from chatserver.server import serve

    serve(config.load(args))
    return 0


def _chat(args: argparse.Namespace) -> int:
    from clients.terminal import run_terminal

    return asyncio.run(run_terminal(args.url, args.room, name=args.name, lang=args.lang, token=args.token,
                                    connect_timeout=args.connect_timeout))


def _token(args: argparse.Namespace) -> int:
    from chatserver.auth import TokenIssuer

    secret = args.secret or config.load(None).secret
    if not secret:
        print("livebridge token: give --secret or set LIVEBRIDGE_SECRET (the server's secret)", file=sys.stderr)
        return 2
    try:
        token, user, _ = TokenIssuer(secret, ttl=args.ttl).issue(
            name=args.name, lang=args.lang, user_id=args.user_id, kind="member", admin=args.admin)
    except ValueError as exc:
        print(f"livebridge token: {exc}", file=sys.stderr)
        return 2
    print(token)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="livebridge", description="Bilingual live-chat server")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run a server node")
    config.add_arguments(serve)
    serve.set_defaults(run=_serve)

    chat = commands.add_parser("chat", help="chat in a room from the terminal")
    chat.add_argument("room")
    chat.add_argument("--name", required=True)
    chat.add_argument("--lang", choices=["en", "zh"], default="en")
    chat.add_argument("--url", default="http://127.0.0.1:8000", help="server URL")
    chat.add_argument("--token", help="a token (default: ask the server for a guest token)")
    chat.add_argument("--connect-timeout", type=float, default=5.0, metavar="SECONDS",
                      help="give up when the server cannot be reached within this time (default 5)")
    chat.set_defaults(run=_chat)

    token = commands.add_parser("token", help="sign a member token with the server's secret")
    token.add_argument("--name", required=True)
    token.add_argument("--lang", choices=["en", "zh"], default="en")
    token.add_argument("--user-id")
    token.add_argument("--admin", action="store_true", help="may edit global blocked terms")
    token.add_argument("--ttl", type=float, default=86400.0)
    token.add_argument("--secret")
    token.set_defaults(run=_token)

    _add_optional_commands(commands)
    return parser


def _add_optional_commands(commands) -> None:
    """Commands whose code lives in other packages; each adds itself if present."""
    for module_name in ("chatserver.cli_translate", "chatserver.cli_bench", "chatserver.cli_admin",
                        "chatserver.cli_db"):
        try:
            module = __import__(module_name, fromlist=["register"])
        except ImportError:
            continue
        module.register(commands)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args) or 0
    except config.SettingsError as exc:
        print(f"livebridge {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
