from aiogram import F, Router, html
from aiogram.filters import Command, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import Message

router = Router(name=__name__)
router.message.filter(F.chat.type == "private")


@router.message(CommandStart())
async def command_start_handler(message: Message, state: FSMContext) -> None:
    visits = (await state.get_data()).get("visits", 0) + 1
    await state.update_data(visits=visits)
    await message.answer(f"Hello, {html.bold(message.from_user.full_name)}! Visit {visits}.")


@router.message(Command("visits"))
async def command_visits_handler(message: Message, state: FSMContext) -> None:
    data = await state.get_data()
    await message.reply(f"You started me {data.get('visits', 0)} time(s).")
