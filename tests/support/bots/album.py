"""A bot that answers each album once, with the popular album middleware pattern; ``/scan``
is long work of the same chat (it counts scans in the chat's state, which the album reads)."""

import asyncio

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.types import InputMediaPhoto, Message

from lambdagram import Lambdagram
from lambdagram.albums import AlbumMiddleware

router = Router()
router.message.middleware(AlbumMiddleware())


@router.message(F.media_group_id)
async def handle_album(message: Message, album: list[Message], state: FSMContext) -> None:
    data = await state.get_data()
    albums = data.get("albums", 0) + 1
    await state.update_data(albums=albums)
    captions = ", ".join(m.caption or "-" for m in album)
    after = f" after {data['scans']} scan(s)" if data.get("scans") else ""
    await message.answer(f"Album {albums}: {len(album)} photos ({captions}){after}")
    await message.answer_media_group(
        [InputMediaPhoto(media=m.photo[-1].file_id) for m in album if m.photo]
    )


@router.message(F.photo)
async def single_photo(message: Message) -> None:
    await message.reply("One photo.")


@router.message(Command("scan"), flags={"long": True})
async def scan(message: Message, command: CommandObject, state: FSMContext) -> None:
    await asyncio.sleep(float(command.args or 0))
    scans = (await state.get_data()).get("scans", 0) + 1
    await state.update_data(scans=scans)
    await message.answer(f"scan {scans} done")


@router.message(Command("albums"))
async def count_albums(message: Message, state: FSMContext) -> None:
    await message.answer(f"{(await state.get_data()).get('albums', 0)} album(s) so far")


app = Lambdagram(lambda dp: dp.include_router(router))
handler = app.lambda_handler
