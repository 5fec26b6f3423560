from aiogram import F, Router
from aiogram.filters import CommandStart
from aiogram.types import KeyboardButton, Message, ReplyKeyboardMarkup
from config import Config

router = Router()


@router.message(CommandStart())
async def start(message: Message, config: Config) -> None:
    keyboard = ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text="Catalogue"), KeyboardButton(text="Cart")]],
        resize_keyboard=True,
    )
    role = " (admin)" if message.from_user.id in config.admin_ids else ""
    await message.answer(f"Welcome to the shop{role}!", reply_markup=keyboard)


@router.message(F.text == "Catalogue")
async def catalogue(message: Message) -> None:
    await message.answer("1. Tea, 2. Coffee. Send a number to add it to the cart.")
