"""Greets, asks for a name, and remembers it in the chat's FSM data (in Redis on Lambda)."""

from aiogram import F, Router
from aiogram.filters import Command, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import Message

router = Router()


class Greeting(StatesGroup):
    name = State()


@router.message(CommandStart())
async def start(message: Message, state: FSMContext) -> None:
    await state.set_state(Greeting.name)
    await message.answer("Hello! What's your name?")


@router.message(Greeting.name, F.text)
async def name(message: Message, state: FSMContext) -> None:
    await state.update_data(name=message.text)
    await state.set_state(None)
    await message.answer(f"Nice to meet you, <b>{message.text}</b>! /whoami: who you are.")


@router.message(Command("whoami"))
async def whoami(message: Message, state: FSMContext) -> None:
    known = (await state.get_data()).get("name")
    await message.answer(f"You are <b>{known}</b>." if known else "I don't know you yet: /start")
