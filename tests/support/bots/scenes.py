"""A quiz with aiogram's Scenes, in the style of aiogram's ``examples/scene.py``."""

from typing import Any

from aiogram import Dispatcher, F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.scene import Scene, SceneRegistry, ScenesManager, on
from aiogram.types import KeyboardButton, Message, ReplyKeyboardMarkup, ReplyKeyboardRemove

from lambdagram import Lambdagram

QUESTIONS = [
    ("What is 2 + 2?", "4"),
    ("Capital of France?", "Paris"),
    ("Python's creator?", "Guido"),
]


class QuizScene(Scene, state="quiz"):
    @on.message.enter()
    async def on_enter(self, message: Message, state: FSMContext, step: int = 0) -> Any:
        if step >= len(QUESTIONS):
            return await self.wizard.exit()
        await state.update_data(step=step)
        markup = ReplyKeyboardMarkup(
            keyboard=[[KeyboardButton(text="Back"), KeyboardButton(text="Exit")]],
            resize_keyboard=True,
        )
        return await message.answer(QUESTIONS[step][0], reply_markup=markup)

    @on.message.exit()
    async def on_exit(self, message: Message, state: FSMContext) -> None:
        data = await state.get_data()
        answers = data.get("answers", {})
        right = sum(answers.get(str(i)) == a for i, (_, a) in enumerate(QUESTIONS))
        await message.answer(
            f"Score: {right}/{len(QUESTIONS)}", reply_markup=ReplyKeyboardRemove()
        )
        await state.set_data({})

    @on.message(F.text == "Back")
    async def back(self, message: Message, state: FSMContext) -> None:
        step = (await state.get_data()).get("step", 0)
        if step == 0:
            return await self.wizard.exit()
        return await self.wizard.back(step=step - 1)

    @on.message(F.text == "Exit")
    async def leave(self, message: Message) -> None:
        await self.wizard.exit()

    @on.message(F.text)
    async def answer(self, message: Message, state: FSMContext) -> None:
        data = await state.get_data()
        step = data.get("step", 0)
        answers = {**data.get("answers", {}), str(step): message.text}
        await state.update_data(answers=answers)
        await self.wizard.retake(step=step + 1)

    @on.message()
    async def unknown(self, message: Message) -> None:
        await message.answer("Please answer with text.")


router = Router(name=__name__)
router.message.register(QuizScene.as_handler(), Command("quiz"))


@router.message(Command("stop"))
async def stop(message: Message, scenes: ScenesManager) -> None:
    await scenes.close()
    await message.answer("Stopped.")


def configure(dp: Dispatcher) -> None:
    dp.include_router(router)
    registry = SceneRegistry(dp)
    registry.add(QuizScene)


app = Lambdagram(configure)
handler = app.lambda_handler
