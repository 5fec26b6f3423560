"""aiogram-dialog's background manager: a button starts a job in a task; the job's
``dialog_manager.bg()`` moves the dialog on when it is done (aiogram-dialog's progress
example, shortened)."""

import asyncio

from aiogram import Dispatcher, Router
from aiogram.filters import CommandStart
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram_dialog import BaseDialogManager, Dialog, DialogManager, StartMode, Window
from aiogram_dialog import setup_dialogs
from aiogram_dialog.widgets.input import MessageInput
from aiogram_dialog.widgets.kbd import Button
from aiogram_dialog.widgets.text import Const

from lambdagram import Lambdagram
from tests.support.bots import unique_intents  # noqa: F401  (two runs compare: see there)


class Job(StatesGroup):
    idle = State()
    done = State()


async def work(manager: BaseDialogManager) -> None:
    await asyncio.sleep(0.05)
    await manager.switch_to(Job.done)


async def start_job(query: CallbackQuery, button: Button, manager: DialogManager) -> None:
    asyncio.create_task(work(manager.bg()))  # noqa: RUF006 - as aiogram-dialog's example does


async def still_done(message: Message, widget: MessageInput, manager: DialogManager) -> None:
    await message.answer("The job finished already.")


dialog = Dialog(
    Window(Const("Ready."), Button(Const("Start"), id="go", on_click=start_job), state=Job.idle),
    Window(
        Const("The job is done."), MessageInput(still_done, content_types="text"), state=Job.done
    ),
)
router = Router()


@router.message(CommandStart())
async def begin(message: Message, dialog_manager: DialogManager) -> None:
    await dialog_manager.start(Job.idle, mode=StartMode.RESET_STACK)


def configure(dp: Dispatcher) -> None:
    dp.include_routers(router, dialog)
    setup_dialogs(dp)


app = Lambdagram(configure)
handler = app.lambda_handler
