"""lambdagram: run an aiogram 3 bot on AWS Lambda with its FSM state in Redis."""

from bot import lazy_types

# Before anything imports aiogram: its ~600 pydantic models are built on first use instead of
# at import, which takes most of the cold start (see bot/lazy_types.py; LAMBDAGRAM_EAGER_TYPES=1
# turns it off).
lazy_types.install()
