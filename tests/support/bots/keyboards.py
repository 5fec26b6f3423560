"""Inline keyboards with CallbackData, edited in place: a counter the user taps."""

from aiogram import Dispatcher, F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from lambdagram import Lambdagram

router = Router()


class Tap(CallbackData, prefix="tap"):
    action: str
    step: int = 1


def keyboard() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text="+1", callback_data=Tap(action="add", step=1))
    builder.button(text="+10", callback_data=Tap(action="add", step=10))
    builder.button(text="Done", callback_data=Tap(action="done"))
    builder.adjust(2, 1)
    return builder.as_markup()


@router.message(Command("counter"))
async def start_counter(message: Message, state: FSMContext) -> None:
    await state.update_data(total=0)
    await message.answer("Total: 0", reply_markup=keyboard())


@router.callback_query(Tap.filter(F.action == "add"))
async def add(query: CallbackQuery, callback_data: Tap, state: FSMContext) -> None:
    total = (await state.get_data()).get("total", 0) + callback_data.step
    await state.update_data(total=total)
    await query.message.edit_text(f"Total: {total}", reply_markup=keyboard())
    await query.answer()


@router.callback_query(Tap.filter(F.action == "done"))
async def done(query: CallbackQuery, state: FSMContext) -> None:
    total = (await state.get_data()).get("total", 0)
    await state.clear()
    await query.message.edit_text(f"Final total: {total}")
    await query.answer(f"Saved {total}", show_alert=True)


def configure(dp: Dispatcher) -> None:
    dp.include_router(router)


app = Lambdagram(configure)
handler = app.lambda_handler
