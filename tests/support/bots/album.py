"""A bot that answers each album once, with the popular album middleware pattern."""

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import InputMediaPhoto, Message

from lambdagram import Lambdagram
from lambdagram.albums import AlbumMiddleware

router = Router()
router.message.middleware(AlbumMiddleware())


@router.message(F.media_group_id)
async def handle_album(message: Message, album: list[Message], state: FSMContext) -> None:
    albums = (await state.get_data()).get("albums", 0) + 1
    await state.update_data(albums=albums)
    captions = ", ".join(m.caption or "-" for m in album)
    await message.answer(f"Album {albums}: {len(album)} photos ({captions})")
    await message.answer_media_group(
        [InputMediaPhoto(media=m.photo[-1].file_id) for m in album if m.photo]
    )


@router.message(F.photo)
async def single_photo(message: Message) -> None:
    await message.reply("One photo.")


@router.message(Command("albums"))
async def count_albums(message: Message, state: FSMContext) -> None:
    await message.answer(f"{(await state.get_data()).get('albums', 0)} album(s) so far")


app = Lambdagram(lambda dp: dp.include_router(router))
handler = app.lambda_handler
