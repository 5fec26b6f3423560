"""lambdagram: run an aiogram 3 bot on AWS Lambda with its FSM state in Redis.

The public API is `Lambdagram` (hand it the bot, get the Lambda handler), `BotSetupError`
and `UpdateGivenUp` (what the bot's error handlers get for an update the engine gave up on);
everything else is the engine's own. Each is imported on first use, so
``import lambdagram`` itself stays cheap and imports no aiogram.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lambdagram import lazy_types

if TYPE_CHECKING:
    from lambdagram.blueprint import BotSetupError
    from lambdagram.failures import UpdateGivenUp
    from lambdagram.function import Lambdagram

# Before anything imports aiogram: its ~600 pydantic models are built on first use instead of
# at import, which takes most of the cold start (see lambdagram/lazy_types.py;
# LAMBDAGRAM_EAGER_TYPES=1 turns it off). So ``handler.py`` imports lambdagram before the
# bot, whose modules import aiogram.
lazy_types.install()

__all__ = ["BotSetupError", "Lambdagram", "UpdateGivenUp", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("lambdagram")
        except PackageNotFoundError:  # a source tree (this repository, a bot's copy)
            return "0.7.0"
    if name == "Lambdagram":
        from lambdagram.function import Lambdagram

        return Lambdagram
    if name == "UpdateGivenUp":
        from lambdagram.failures import UpdateGivenUp

        return UpdateGivenUp
    if name == "BotSetupError":
        from lambdagram.blueprint import BotSetupError

        return BotSetupError
    raise AttributeError(f"module 'lambdagram' has no attribute {name!r}")
