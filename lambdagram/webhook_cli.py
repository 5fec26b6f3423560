"""``python -m lambdagram webhook set|info|delete``: point Telegram at the deployed function."""

from __future__ import annotations

import datetime
import os
from typing import TextIO
from urllib.parse import urlsplit

from aiogram import Bot
from aiogram.exceptions import (
    AiogramError,
    TelegramAPIError,
    TelegramNetworkError,
    TelegramUnauthorizedError,
)

from lambdagram.runtime import create_bot, ensure_event_loop
from lambdagram.settings import Settings
from lambdagram.ssm import resolve_parameters

TELEGRAM_PORTS = {443, 80, 88, 8443}


class WebhookCommandError(RuntimeError):
    """The command could not do its job; the message says why and what to do."""


def run(
    action: str,
    out: TextIO,
    *,
    url: str | None = None,
    max_connections: int = 40,
    drop_pending_updates: bool = False,
    allowed_updates: list[str] | None = None,
) -> int:
    """Run ``set``, ``info`` or ``delete``; 0 on success.

    ``allowed_updates``: the update kinds the bot handles (for ``set``).
    """
    environ = dict(resolve_parameters(os.environ))
    if action != "set":  # only setWebhook sends the secret: info and delete need the token alone
        environ.setdefault("WEBHOOK_SECRET", "unused-by-" + action)
    settings = Settings.from_environ(environ, need_redis=False)
    target = webhook_url(url, settings.webhook_path) if action == "set" else ""
    loop = ensure_event_loop()
    return loop.run_until_complete(
        _run(settings, action, out, target, max_connections, drop_pending_updates, allowed_updates)
    )


def webhook_url(url: str | None, path: str) -> str:
    """The full webhook URL: the function's URL plus ``WEBHOOK_PATH`` if it has no path."""
    if not url:
        msg = (
            "give the function's URL: `python -m lambdagram webhook set https://<id>.lambda-url."
            "<region>.on.aws/` (`npx serverless info --verbose` shows it)"
        )
        raise WebhookCommandError(msg)
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        msg = f"{url!r} is not an https:// URL; Telegram only delivers webhooks over HTTPS"
        raise WebhookCommandError(msg)
    if parts.port is not None and parts.port not in TELEGRAM_PORTS:
        msg = f"Telegram only delivers to ports 443, 80, 88 and 8443, not {parts.port}"
        raise WebhookCommandError(msg)
    if parts.path in {"", "/"}:
        return parts._replace(path=path).geturl()
    return url


async def _run(
    settings: Settings,
    action: str,
    out: TextIO,
    url: str,
    max_connections: int,
    drop_pending_updates: bool,
    allowed_updates: list[str] | None,
) -> int:
    bot = create_bot(settings)
    try:
        if action == "set":
            allowed = allowed_updates or []
            await bot.set_webhook(
                url=url,
                secret_token=settings.webhook_secret,
                allowed_updates=allowed,
                max_connections=max_connections,
                drop_pending_updates=drop_pending_updates,
            )
            print(f"Webhook set: {url}", file=out)
            print(f"  allowed_updates: {', '.join(allowed)}", file=out)
            print(f"  max_connections: {max_connections}", file=out)
        elif action == "delete":
            await bot.delete_webhook(drop_pending_updates=drop_pending_updates)
            print("Webhook deleted.", file=out)
        await _print_info(bot, out)
    except TelegramUnauthorizedError:
        msg = "Telegram refused BOT_TOKEN (401 Unauthorized): check the token from @BotFather"
        raise WebhookCommandError(msg) from None
    except TelegramNetworkError as error:
        msg = f"cannot reach the Bot API at {settings.telegram_api_url}: {error.message}"
        raise WebhookCommandError(msg) from None
    except TelegramAPIError as error:
        raise WebhookCommandError(f"Telegram refused {action}: {error.message}") from None
    except AiogramError as error:  # an answer that is not the Bot API's (a proxy's page)
        msg = f"the Bot API at {settings.telegram_api_url} answered {action} unreadably: {error}"
        raise WebhookCommandError(msg) from None
    finally:
        await bot.session.close()
    return 0


async def _print_info(bot: Bot, out: TextIO) -> None:
    info = await bot.get_webhook_info()
    print("Webhook info:", file=out)
    print(f"  url: {info.url or '(none: the bot is not receiving updates by webhook)'}", file=out)
    print(f"  pending updates: {info.pending_update_count}", file=out)
    if info.max_connections:
        print(f"  max connections: {info.max_connections}", file=out)
    if info.allowed_updates:
        print(f"  allowed updates: {', '.join(info.allowed_updates)}", file=out)
    if info.ip_address:
        print(f"  ip address: {info.ip_address}", file=out)
    if info.last_error_date:
        when = _when(info.last_error_date)
        print(f"  last error: {when} {info.last_error_message}", file=out)
    else:
        print("  last error: none", file=out)


def _when(value: datetime.datetime | int) -> str:
    if isinstance(value, int):
        value = datetime.datetime.fromtimestamp(value, datetime.UTC)
    return f"{value:%Y-%m-%d %H:%M:%S %Z}"
