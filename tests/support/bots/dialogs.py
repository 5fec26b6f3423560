"""Several aiogram-dialog dialogs: a menu that starts a settings dialog on top of itself (a
stack of two), a counter kept in the dialog's data, Cancel back to the menu with a result, and
/start that resets the whole stack (``StartMode.RESET_STACK``) from wherever the user is."""

from typing import Any

from aiogram import Dispatcher, Router
from aiogram.filters import CommandStart
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram_dialog import Data, Dialog, DialogManager, StartMode, Window, setup_dialogs
from aiogram_dialog.widgets.kbd import Button, Cancel, Start
from aiogram_dialog.widgets.text import Const, Format

from lambdagram import Lambdagram
from tests.support.bots import unique_intents  # noqa: F401  (two runs compare: see there)


class Menu(StatesGroup):
    main = State()


class Settings(StatesGroup):
    main = State()


async def menu_data(dialog_manager: DialogManager, **kwargs: Any) -> dict[str, Any]:
    return {"volume": dialog_manager.dialog_data.get("volume", 0)}


async def settings_data(dialog_manager: DialogManager, **kwargs: Any) -> dict[str, Any]:
    return {"volume": dialog_manager.dialog_data.get("volume", 0)}


async def louder(query: CallbackQuery, button: Button, manager: DialogManager) -> None:
    manager.dialog_data["volume"] = manager.dialog_data.get("volume", 0) + 1


async def settings_closed(start_data: Data, result: Any, manager: DialogManager) -> None:
    if isinstance(result, dict):
        manager.dialog_data["volume"] = result.get("volume", 0)


async def done(query: CallbackQuery, button: Button, manager: DialogManager) -> None:
    await manager.done({"volume": manager.dialog_data.get("volume", 0)})


menu = Dialog(
    Window(
        Format("Menu. Volume {volume}."),
        Start(Const("Settings"), id="settings", state=Settings.main),
        state=Menu.main,
        getter=menu_data,
    ),
    on_process_result=settings_closed,
)
settings = Dialog(
    Window(
        Format("Settings: volume {volume}."),
        Button(Const("Louder"), id="louder", on_click=louder),
        Button(Const("Done"), id="done", on_click=done),
        Cancel(Const("Cancel")),
        state=Settings.main,
        getter=settings_data,
    ),
)
router = Router()


@router.message(CommandStart())
async def begin(message: Message, dialog_manager: DialogManager) -> None:
    await dialog_manager.start(Menu.main, mode=StartMode.RESET_STACK)


def configure(dp: Dispatcher) -> None:
    dp.include_routers(router, menu, settings)
    setup_dialogs(dp)


app = Lambdagram(configure)
handler = app.lambda_handler
