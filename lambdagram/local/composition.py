"""The composition root the local tools run: the `Lambdagram` ``handler.py`` hands the bot to.

``LAMBDAGRAM_APP=module:attribute`` names another (the tests run the engine's own test bots
that way). Imported by the CLI and the local tools alike, so none of them imports another
back.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lambdagram.function import Lambdagram


def load_app() -> Lambdagram:
    """The `Lambdagram` that ``handler.py`` (or ``LAMBDAGRAM_APP``) hands the bot to."""
    from lambdagram.function import Lambdagram

    spec = os.environ.get("LAMBDAGRAM_APP", "handler:app")
    module_name, _, attribute = spec.partition(":")
    module = importlib.import_module(module_name)
    app = getattr(module, attribute or "app", None)
    if not isinstance(app, Lambdagram):
        msg = f"{spec} is not a lambdagram.Lambdagram (set LAMBDAGRAM_APP=module:attribute)"
        raise SystemExit(f"error: {msg}")
    return app
