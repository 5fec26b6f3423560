"""FSM states of the example bot."""

from aiogram.fsm.state import State, StatesGroup


class Form(StatesGroup):
    """The questionnaire: name, then age, then a few words about the user."""

    name = State()
    age = State()
    about = State()
