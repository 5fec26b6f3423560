"""A multi-window aiogram-dialog 2.6 bot: text input, a Select keyboard, Back, and a summary."""

from aiogram import Dispatcher, Router
from aiogram.filters import CommandStart
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram_dialog import Dialog, DialogManager, StartMode, Window, setup_dialogs
from aiogram_dialog.widgets.input import ManagedTextInput, TextInput
from aiogram_dialog.widgets.kbd import Back, Button, Row, Select
from aiogram_dialog.widgets.text import Const, Format

from lambdagram import Lambdagram
from tests.support.bots import unique_intents  # noqa: F401  (two runs compare: see there)


class Order(StatesGroup):
    name = State()
    size = State()
    confirm = State()


async def name_entered(
    message: Message, widget: ManagedTextInput, manager: DialogManager, text: str
) -> None:
    manager.dialog_data["name"] = text
    await manager.next()


async def size_chosen(
    query: CallbackQuery, widget: Select, manager: DialogManager, size: str
) -> None:
    manager.dialog_data["size"] = size
    await manager.next()


async def confirmed(query: CallbackQuery, button: Button, manager: DialogManager) -> None:
    data = manager.dialog_data
    await query.message.answer(f"Ordered a {data['size']} for {data['name']}.")
    await manager.done()


async def order_data(dialog_manager: DialogManager, **kwargs) -> dict:
    return {**dialog_manager.dialog_data, "sizes": ["S", "M", "L"]}


dialog = Dialog(
    Window(
        Const("Who is the order for?"),
        TextInput(id="name", on_success=name_entered),
        state=Order.name,
    ),
    Window(
        Format("Hi {name}! Which size?"),
        Select(
            Format("{item}"), id="size", item_id_getter=str, items="sizes", on_click=size_chosen
        ),
        Back(Const("Back")),
        state=Order.size,
        getter=order_data,
    ),
    Window(
        Format("{name}, size {size}. Confirm?"),
        Row(Back(Const("Back")), Button(Const("Confirm"), id="confirm", on_click=confirmed)),
        state=Order.confirm,
        getter=order_data,
    ),
)

router = Router()


@router.message(CommandStart())
async def start(message: Message, dialog_manager: DialogManager) -> None:
    await dialog_manager.start(Order.name, mode=StartMode.RESET_STACK)


def configure(dp: Dispatcher) -> None:
    dp.include_routers(router, dialog)
    setup_dialogs(dp)


app = Lambdagram(configure)
handler = app.lambda_handler
