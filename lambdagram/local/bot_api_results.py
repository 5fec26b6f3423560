"""What the fake Bot API answers: Telegram's own result shapes for the common methods.

Shapes from the Bot API reference (core.telegram.org/bots/api): ``send*`` and ``edit*``
return a ``Message`` carrying what was sent (text or caption, the media object, the inline
keyboard), ``sendMediaGroup`` a list of them, ``copyMessage`` a ``MessageId``, the
``answer*``/``delete*``/``set*`` methods ``true``. Values are plausible, ids increase.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

BOT_NAME = "Questionnaire"
BOT_USERNAME = "questionnaire_bot"

_MEDIA = {
    "sendphoto": "photo",
    "senddocument": "document",
    "sendvideo": "video",
    "sendaudio": "audio",
    "sendvoice": "voice",
    "sendanimation": "animation",
    "sendsticker": "sticker",
    "sendvideonote": "video_note",
}
_TRUE = ("answer", "delete", "set", "pin", "unpin", "ban", "unban", "restrict", "promote")


class Results:
    """Builds results; one instance per server keeps message and file ids unique."""

    def __init__(self) -> None:
        self._message_ids = itertools.count(1)
        self._file_ids = itertools.count(1)

    def for_call(self, bot_id: int, method: str, params: dict[str, Any]) -> Any:
        """The ``result`` of ``method`` (lowercase) called with ``params``."""
        if method == "getme":
            return get_me(bot_id)
        if method == "sendmediagroup":
            media = form_json(params.get("media")) or []
            return [
                self.message(bot_id, params, media=_media_kind(item), caption=item.get("caption"))
                for item in media
                if isinstance(item, dict)
            ]
        if method == "copymessage":
            return {"message_id": next(self._message_ids)}
        if method == "copymessages" or method == "forwardmessages":
            return [
                {"message_id": next(self._message_ids)}
                for _ in form_json(params.get("message_ids")) or []
            ]
        if method.startswith("edit"):
            if params.get("inline_message_id"):
                return True
            return self.message(bot_id, params, message_id=_int(params.get("message_id")))
        if method in _MEDIA:
            return self.message(bot_id, params, media=_MEDIA[method])
        if method == "sendchataction":
            return True
        if method.startswith(("send", "forward")):
            return self.message(bot_id, params)
        if method.startswith(_TRUE) or method in {"leavechat", "approvechatjoinrequest"}:
            return True
        return True

    def message(
        self,
        bot_id: int,
        params: dict[str, Any],
        *,
        media: str | None = None,
        caption: Any = None,
        message_id: int | None = None,
    ) -> dict[str, Any]:
        """A Message from the bot to ``params["chat_id"]`` with what the call sent."""
        chat_id = _int(params.get("chat_id")) or -1
        message: dict[str, Any] = {
            "message_id": message_id or next(self._message_ids),
            "date": int(time.time()),
            "chat": _chat(chat_id),
            "from": {
                "id": bot_id,
                "is_bot": True,
                "first_name": BOT_NAME,
                "username": BOT_USERNAME,
            },
        }
        if message_id is not None:
            message["edit_date"] = int(time.time())
        if "text" in params:
            message["text"] = str(params["text"])
        caption = caption if caption is not None else params.get("caption")
        if media is not None:
            message[media] = self._media(media)
            if caption is not None:
                message["caption"] = str(caption)
        markup = form_json(params.get("reply_markup"))
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = {"inline_keyboard": markup["inline_keyboard"]}
        return message

    def _media(self, kind: str) -> Any:
        n = next(self._file_ids)
        file = {"file_id": f"AgAC{kind}{n:08d}", "file_unique_id": f"AQAD{n:08d}"}
        if kind == "photo":  # several sizes of one picture, smallest first
            return [
                {
                    **file,
                    "file_id": f"{file['file_id']}_{w}",
                    "width": w,
                    "height": w * 3 // 4,
                    "file_size": w * 40,
                }
                for w in (90, 320, 800)
            ]
        if kind == "sticker":
            return {
                **file,
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
            }
        if kind in {"video", "animation"}:
            return {**file, "width": 640, "height": 360, "duration": 3}
        if kind == "video_note":
            return {**file, "length": 240, "duration": 3}
        if kind in {"audio", "voice"}:
            return {**file, "duration": 3}
        return {**file, "file_name": "file.bin", "mime_type": "application/octet-stream"}


def get_me(bot_id: int) -> dict[str, Any]:
    """The ``getMe`` User of the bot."""
    return {
        "id": bot_id,
        "is_bot": True,
        "first_name": BOT_NAME,
        "username": BOT_USERNAME,
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
    }


def _chat(chat_id: int) -> dict[str, Any]:
    if chat_id > 0:
        return {"id": chat_id, "type": "private", "first_name": "User"}
    return {"id": chat_id, "type": "supergroup", "title": "Group"}


def _media_kind(item: dict[str, Any]) -> str:
    kind = str(item.get("type", "photo"))
    return kind if kind in {"photo", "video", "audio", "document", "animation"} else "document"


def form_json(value: Any) -> Any:
    """A form field holding JSON (aiogram encodes nested values so), or the value itself."""
    if isinstance(value, str) and value[:1] in {"{", "["}:
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _int(value: Any) -> int | None:
    text = str(value) if value is not None else ""
    return int(text) if text.lstrip("-").isdigit() else None
