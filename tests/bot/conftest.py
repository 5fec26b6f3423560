"""The example bot's tests run ``handler.py``, the project's own composition root."""

import pytest


@pytest.fixture
def composition_root() -> str:
    """The example bot, as Lambda imports it."""
    return "handler"


@pytest.fixture(scope="session")
def bot_env(bot_env: dict[str, str]) -> dict[str, str]:
    """The function's environment, with processes importing ``handler`` (the default)."""
    return {name: value for name, value in bot_env.items() if name != "LAMBDAGRAM_APP"}
