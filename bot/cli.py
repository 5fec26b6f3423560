"""``python -m bot``: local tools around the webhook."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen command."""
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="scripted dialog through the Lambda path, killed mid-form")
    commands.add_parser("chat", help="talk to the bot in this terminal through the Lambda path")
    dead = commands.add_parser(
        "deadletter", help="updates this aiogram could not process (uses the function's env)"
    )
    dead.add_argument("action", choices=["list", "replay"])
    args = parser.parse_args(argv)
    if args.command == "demo":
        from bot.local import demo

        return demo.run()
    if args.command == "deadletter":
        from bot import deadletter_cli
        from bot.settings import SettingsError

        try:
            return deadletter_cli.run(args.action, sys.stdout)
        except SettingsError as error:
            print(error, file=sys.stderr)
            return 2
    from bot.local import chat

    return chat.run()


if __name__ == "__main__":
    sys.exit(main())
