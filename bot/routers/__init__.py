"""Feature routers. Each module exports a factory so a Dispatcher can be rebuilt per update."""

from __future__ import annotations

from aiogram import Router

from bot.routers.common import create_common_router, create_fallback_router
from bot.routers.questionnaire import create_questionnaire_router


def create_routers() -> list[Router]:
    """New instances of every router, in the order the Dispatcher tries them.

    The fallback router comes last: it answers whatever no other router took.
    """
    return [create_common_router(), create_questionnaire_router(), create_fallback_router()]
