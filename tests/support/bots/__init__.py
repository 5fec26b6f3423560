"""Bots the engine's tests run: written the ordinary aiogram ways, none of them ``bot/``.

Each module is a composition root of its own (``app = Lambdagram(...)``, ``handler``), so
the engine's tests stay green whatever bot sits in ``bot/``.
"""
