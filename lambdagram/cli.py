"""``python -m lambdagram``: local tools around the webhook.

The bot comes from the composition root, ``handler.py`` (its ``app``); set
``LAMBDAGRAM_APP=module:attribute`` to use another. Every command reports a failure the same
way: ``error: <what and how to fix it>`` on stderr and exit code 1 (2 is argparse's, for a
command line it cannot parse).
"""

from __future__ import annotations

import argparse
import sys

from lambdagram.local.composition import load_app


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen command."""
    parser = argparse.ArgumentParser(prog="python -m lambdagram", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="scripted dialog through the Lambda path, killed mid-form")
    commands.add_parser("chat", help="talk to the bot in this terminal through the Lambda path")
    polling = commands.add_parser(
        "poll",
        help="the bot against the real Telegram, no AWS: getUpdates through the Lambda path "
        "(reads BOT_TOKEN; REDIS_URL, else a throwaway redis-server; TELEGRAM_API_URL)",
    )
    polling.add_argument(
        "--delete-webhook",
        action="store_true",
        help="remove the bot's webhook first (polling is refused while one is set)",
    )
    polling.add_argument(
        "--offline",
        action="store_true",
        help="no Telegram: a fake Bot API on loopback, fed with what you type (no token needed)",
    )
    dead = commands.add_parser(
        "deadletter", help="updates this aiogram could not process (uses the function's env)"
    )
    dead.add_argument("action", choices=["list", "replay"])
    cast = commands.add_parser(
        "broadcast", help="one message to many chats through the worker (uses the function's env)"
    )
    cast.add_argument("action", choices=["start", "status", "cancel", "resend-unconfirmed"])
    cast.add_argument("id", nargs="?", help="for status and cancel: the broadcast's id")
    cast.add_argument("--to", metavar="FILE", help="for start: chat ids, one per line")
    what = cast.add_mutually_exclusive_group()
    what.add_argument("--text", help="for start: the message's text")
    what.add_argument("--copy", metavar="CHAT:MESSAGE", help="for start: copy this message")
    cast.add_argument("--parse-mode", choices=["HTML", "MarkdownV2"], help="for --text")
    cast.add_argument(
        "--payload",
        action="store_true",
        help="print the request as the deployed function's internal event (make broadcast "
        "invokes the function with it) instead of carrying it out here",
    )
    hook = commands.add_parser(
        "webhook", help="register the deployed function with Telegram (setWebhook and friends)"
    )
    hook.add_argument("action", choices=["set", "info", "delete"])
    hook.add_argument("url", nargs="?", help="for set: the function URL (https://...)")
    hook.add_argument(
        "--max-connections",
        type=int,
        default=40,
        choices=range(1, 101),
        metavar="1-100",
        help="parallel deliveries Telegram may make (default 40)",
    )
    hook.add_argument(
        "--drop-pending-updates",
        action="store_true",
        help="discard updates Telegram is still holding for the bot",
    )
    commands.add_parser(
        "long-work",
        help="print on if the bot flags a handler long or sends broadcasts (it needs the queue "
        "and worker), else off",
    )
    commands.add_parser(
        "timers", help="print on if the bot registers jobs (it needs the scheduler), else off"
    )
    new = commands.add_parser(
        "new", help="a new bot project in DIR that depends on this engine instead of copying it"
    )
    new.add_argument("dir", help="the project's directory (new or empty)")
    new.add_argument(
        "--wheel",
        metavar="FILE",
        help="the engine's wheel to put in wheels/ (in this repository: built; otherwise "
        "without it the project requires lambdagram==VERSION from your index)",
    )
    args = parser.parse_args(argv)
    if args.command == "new":
        return _new(args)
    if args.command == "timers":
        print("on" if load_app().blueprint.registers_jobs else "off")
        return 0
    if args.command == "long-work":
        blueprint = load_app().blueprint
        print("on" if blueprint.needs_queue else "off")
        for name in blueprint.long_handlers:
            print(f"  long: {name}", file=sys.stderr)
        if blueprint.broadcasts:
            print("  broadcasts: the worker sends them", file=sys.stderr)
        return 0
    if args.command == "demo":
        from lambdagram.tools import demo

        return demo.run()
    if args.command == "deadletter":
        from lambdagram import deadletter_cli
        from lambdagram.settings import SettingsError

        try:
            return deadletter_cli.run(args.action, sys.stdout, load_app())
        except SettingsError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    if args.command == "broadcast":
        return _broadcast(args, cast)
    if args.command == "webhook":
        return _webhook(args)
    if args.command == "poll":
        from lambdagram.tools import poll

        return poll.run(delete_webhook=args.delete_webhook, offline=args.offline)
    from lambdagram.tools import chat

    return chat.run()


def _new(args: argparse.Namespace) -> int:
    import tempfile
    from pathlib import Path

    import lambdagram
    from lambdagram import new_project

    target = Path(args.dir)
    try:
        with tempfile.TemporaryDirectory() as built:
            wheel = Path(args.wheel) if args.wheel else None
            if wheel is None and new_project.kit_root() == new_project.HERE.parent:
                print("building the engine's wheel from this repository", file=sys.stderr)
                wheel = new_project.build_wheel(Path(built))
            version = lambdagram.__version__
            written = new_project.create(target, wheel=wheel, version=version)
    except new_project.NewProjectError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    engine = new_project.engine_requirement(wheel, version)
    print(f"{target}: {len(written)} files; the engine from {engine}")
    print(f"next: cd {target} && git init && make chat (or make test)")
    return 0


def _webhook(args: argparse.Namespace) -> int:
    from lambdagram import webhook_cli
    from lambdagram.redaction import redact
    from lambdagram.settings import SettingsError
    from lambdagram.ssm import ParameterError

    try:
        return webhook_cli.run(
            args.action,
            sys.stdout,
            url=args.url,
            max_connections=args.max_connections,
            drop_pending_updates=args.drop_pending_updates,
            allowed_updates=load_app().blueprint.used_update_types()
            if args.action == "set"
            else None,
        )
    except (webhook_cli.WebhookCommandError, SettingsError, ParameterError) as error:
        print(f"error: {redact(str(error))}", file=sys.stderr)  # it runs in deploy logs
        return 1


def _broadcast(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from redis.exceptions import RedisError

    from lambdagram import broadcast_cli
    from lambdagram.broadcasts import BroadcastError, BroadcastsUnavailable
    from lambdagram.redaction import redact
    from lambdagram.settings import SettingsError
    from lambdagram.sqs import QueueError

    if args.action == "start" and not (args.to and (args.text or args.copy)):
        parser.error("start needs --to FILE and --text TEXT or --copy CHAT:MESSAGE")
    if args.action in {"cancel", "resend-unconfirmed"} and not args.id:
        parser.error(f"{args.action} needs the broadcast's id")
    try:
        if args.payload:
            return broadcast_cli.print_payload(args, sys.stdout)
        return broadcast_cli.run(args, sys.stdout, load_app())
    except (SettingsError, BroadcastError, BroadcastsUnavailable, QueueError, OSError) as error:
        print(f"error: {redact(str(error))}", file=sys.stderr)
        return 1
    except RedisError as error:
        hint = "is REDIS_URL reachable from here? make broadcast asks the deployed function"
        print(f"error: Redis: {redact(str(error))} ({hint})", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
