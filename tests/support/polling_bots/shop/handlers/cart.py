from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import Message

ITEMS = {"1": "Tea", "2": "Coffee"}
router = Router()


@router.message(F.text.in_(ITEMS))
async def add(message: Message, state: FSMContext) -> None:
    cart = (await state.get_data()).get("cart", [])
    cart.append(ITEMS[message.text])
    await state.update_data(cart=cart)
    await message.answer(f"{ITEMS[message.text]} added ({len(cart)} in the cart).")


@router.message(F.text == "Cart")
async def show(message: Message, state: FSMContext) -> None:
    cart = (await state.get_data()).get("cart", [])
    await message.answer("Cart: " + (", ".join(cart) or "empty"))
