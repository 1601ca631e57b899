"""A Telegram Bot API server that enforces the documented contract of posting to a channel.

    POST|GET /bot<token>/<method>   a well-formed but unknown token -> 401 "Unauthorized"; a
                                    malformed token or unknown method -> 404 "Not Found"
                                    (method names are case-insensitive); parameters as JSON,
                                    form or query string
    getMe                           the bot
    getChat                         a chat by `@username` or numeric id ("chat not found")
    getChatMember                   the bot's status in a chat (administrator, member, left,
                                    kicked) and, in a channel, `can_post_messages`
    sendMessage                     `chat_id`, `text`, `parse_mode` (HTML parsed here, with
                                    Telegram's errors), `link_preview_options`,
                                    `disable_notification`; the bot's rights (403 kicked / not a
                                    member, 400 need administrator rights); a group that became a
                                    supergroup (400 with `parameters.migrate_to_chat_id`); length
                                    counted as TDLib counts it, after entity parsing (below);
                                    flood control per chat (429 with `parameters.retry_after` in
                                    the body and no Retry-After header)

Every answer is `{"ok": true, "result": ...}` or `{"ok": false, "error_code", "description",
"parameters"?}`.

The length rule is written here from TDLib's source (td/telegram/misc.cpp `clean_input_string`,
MessageEntity.cpp `fix_formatted_text`, MessagesManager "Message is too long"), independently of
campaign.rules: control characters other than newline become spaces, `\\r`, U+2028-U+202E and
three combining "vertical line" marks are removed, spaces and newlines are trimmed at both ends,
a text of only invisible characters is empty, and at most 4,096 code points remain.

Knobs beyond `FakeServer`'s: `flood(retry_after, times)` answers the next sendMessage calls with
429; `add_chat(...)` and `migrate(...)` shape the chats and the bot's rights in them;
`revoke(token)` gives the bot a new token and refuses the old one.

Standalone, for trying the product:
`python -m tests.fakes.telegram --port 8083 --token 123456:demo-token --chat @SafeMigrationKG`.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import secrets
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO
from urllib.parse import parse_qs

from tests.fakes import FakeServer, Reply, Request, names_by_token, token_options

DEFAULT_TOKEN = "123456789:AAE-test-token_0123456789abcdefghij"
DEFAULT_BOT = "CampaignTestBot"
DEFAULT_CHAT = "@SafeMigrationKG"
MAX_LENGTH = 4096

_TOKEN = re.compile(r"^[0-9]+:[A-Za-z0-9_-]+$")
_PATH = re.compile(r"^/bot(?P<token>[^/]*)/(?P<method>[A-Za-z]+)$")
_FIRST_CHAT_ID = -1001000000000


@dataclass
class Chat:
    """A chat the bot may post to; `bot_status` is the bot's membership in it."""

    id: int
    title: str
    username: str | None = None  # without the @; None: private
    type: str = "channel"  # "channel", "supergroup" or "group"
    bot_status: str = "administrator"  # "creator", "administrator", "member", "left", "kicked"
    can_post: bool = True  # an administrator's right to post messages (channels)
    migrated_to: int | None = None  # a group that became this supergroup

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "title": self.title, "type": self.type}
        if self.username:
            data["username"] = self.username
        return data


@dataclass(frozen=True)
class Message:
    """One message the server accepted."""

    chat_id: int
    message_id: int
    text: str  # as Telegram stores it: markup parsed, cleaned and trimmed
    sent_text: str  # as the client sent it
    entities: tuple[dict[str, Any], ...]
    parse_mode: str | None
    link_preview_options: dict[str, Any] | None
    disable_notification: bool
    date: int
    bot: str


@dataclass
class _Flood:
    left: int = 0
    retry_after: int = 0


@dataclass
class _Window:
    sent: list[float] = field(default_factory=list)


class TelegramError(Exception):
    """An answer with `ok: false`."""

    def __init__(
        self, code: int, description: str, parameters: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = dict(parameters or {})

    def reply(self) -> Reply:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return Reply(self.code, body)


class FakeTelegram(FakeServer):
    """A local Bot API: tokens map to bots; chats and messages are recorded."""

    name = "telegram"

    def __init__(
        self,
        *,
        tokens: Mapping[str, str] | Iterable[str] = (DEFAULT_TOKEN,),
        chats: Iterable[str] = (DEFAULT_CHAT,),
        per_chat_per_minute: int | None = 20,
        clock: Callable[[], float] = time.time,
        host: str = "127.0.0.1",
        port: int = 0,
        echo: TextIO | None = None,
    ) -> None:
        super().__init__(host=host, port=port, echo=echo)
        self.bots = names_by_token(tokens, DEFAULT_BOT)
        self.per_chat_per_minute = per_chat_per_minute
        self._clock = clock
        self._chats: list[Chat] = []
        self._messages: list[Message] = []
        self._next_message_id: dict[int, int] = {}
        self._windows: dict[int, _Window] = {}
        self._flood = _Flood()
        for username in chats:
            self.add_chat(username)

    # -- what happened ---------------------------------------------------------------------

    @property
    def messages(self) -> list[Message]:
        """Every message accepted so far, in order."""
        with self._lock:
            return list(self._messages)

    def chat(self, chat_id: int | str) -> Chat | None:
        """The chat `chat_id` names (`@username`, its id, or the id as text)."""
        with self._lock:
            return self._find_chat(chat_id)

    # -- knobs -----------------------------------------------------------------------------

    def add_chat(
        self,
        username: str | None = None,
        *,
        title: str | None = None,
        type: str = "channel",
        bot_status: str = "administrator",
        can_post: bool = True,
    ) -> Chat:
        """A chat the bots know; `username` ("@name") makes it public."""
        with self._lock:
            name = username.lstrip("@") if username else None
            chat = Chat(
                id=_FIRST_CHAT_ID - len(self._chats) - 1,
                title=title or (name or "Private channel"),
                username=name,
                type=type,
                bot_status=bot_status,
                can_post=can_post,
            )
            self._chats.append(chat)
            return chat

    def migrate(self, chat: Chat) -> Chat:
        """Upgrade a group to a supergroup with a new id, as Telegram does."""
        with self._lock:
            new = Chat(
                id=_FIRST_CHAT_ID - len(self._chats) - 1,
                title=chat.title,
                username=chat.username,
                type="supergroup",
                bot_status=chat.bot_status,
            )
            self._chats.append(new)
            chat.migrated_to = new.id
            chat.username = None  # the username moves to the supergroup
            return new

    def revoke(self, token: str) -> str:
        """Revoke a bot's token as @BotFather does: the old token is refused (401) from now
        on; returns the bot's new token."""
        new = f"{token.split(':', 1)[0]}:{secrets.token_urlsafe(26)}"
        with self._lock:
            self.bots[new] = self.bots.pop(token)
        return new

    def flood(self, retry_after: int = 3, times: int = 1) -> None:
        """Answer the next `times` sendMessage calls with 429 and `retry_after` seconds."""
        with self._lock:
            self._flood = _Flood(times, retry_after)

    # -- the API ---------------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        match = _PATH.match(request.path)
        if match is None or not _TOKEN.match(match["token"]):
            return TelegramError(404, "Not Found").reply()
        bot = self.bots.get(match["token"])
        if bot is None:
            return TelegramError(401, "Unauthorized").reply()
        method = match["method"].lower()
        handler = self._methods().get(method)
        if handler is None:
            return TelegramError(404, "Not Found").reply()
        try:
            params = _params(request)
            result, created = handler(params, bot)
        except TelegramError as error:
            return error.reply()
        return Reply(200, {"ok": True, "result": result}, created=created)

    def _methods(self) -> dict[str, Callable[[dict[str, Any], str], tuple[Any, bool]]]:
        return {
            "getme": self._get_me,
            "getchat": self._get_chat,
            "getchatmember": self._get_chat_member,
            "sendmessage": self._send_message,
        }

    def _get_me(self, params: dict[str, Any], bot: str) -> tuple[Any, bool]:
        return _bot_json(bot, self._bot_id(bot)), False

    def _get_chat(self, params: dict[str, Any], bot: str) -> tuple[Any, bool]:
        with self._lock:
            chat = self._reachable_chat(params)
            return chat.to_json(), False

    def _get_chat_member(self, params: dict[str, Any], bot: str) -> tuple[Any, bool]:
        with self._lock:
            chat = self._reachable_chat(params)
            user_id = _integer(params.get("user_id"), "user_id")
            if user_id != self._bot_id(bot):
                raise TelegramError(400, "Bad Request: user not found")
            member: dict[str, Any] = {
                "user": _bot_json(bot, user_id),
                "status": chat.bot_status,
            }
            if chat.bot_status == "administrator":
                member["can_be_edited"] = False
                member["can_post_messages"] = chat.can_post
                member["can_edit_messages"] = chat.can_post
            return member, False

    def _send_message(self, params: dict[str, Any], bot: str) -> tuple[Any, bool]:
        sent = params.get("text")
        if not isinstance(sent, str) or not sent:
            raise TelegramError(400, "Bad Request: message text is empty")
        parse_mode = params.get("parse_mode") or None
        text, entities = _parse(sent, parse_mode)
        text = clean_text(text)
        if is_empty(text):
            raise TelegramError(400, "Bad Request: message text is empty")
        if len(text) > MAX_LENGTH:
            raise TelegramError(400, "Bad Request: message is too long")
        preview = _link_preview(params)
        silent = _boolean(params.get("disable_notification", False), "disable_notification")
        now = self._clock()
        with self._lock:
            chat = self._chat_for_sending(params)
            self._throttle(chat, now)
            message_id = self._next_message_id.get(chat.id, 0) + 1
            self._next_message_id[chat.id] = message_id
            message = Message(
                chat_id=chat.id,
                message_id=message_id,
                text=text,
                sent_text=sent,
                entities=tuple(entities),
                parse_mode=parse_mode,
                link_preview_options=preview,
                disable_notification=silent,
                date=int(now),
                bot=bot,
            )
            self._messages.append(message)
            result: dict[str, Any] = {
                "message_id": message_id,
                "sender_chat": chat.to_json(),
                "chat": chat.to_json(),
                "date": message.date,
                "text": text,
            }
        if entities:
            result["entities"] = entities
        if preview is not None:
            result["link_preview_options"] = preview
        return result, True

    # -- chats and rights (called under the lock) -----------------------------------------

    def _find_chat(self, chat_id: int | str) -> Chat | None:
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            wanted = chat_id[1:].lower()
            return next(
                (c for c in self._chats if c.username and c.username.lower() == wanted), None
            )
        try:
            number = int(chat_id)
        except (TypeError, ValueError):
            return None
        return next((c for c in self._chats if c.id == number), None)

    def _reachable_chat(self, params: dict[str, Any]) -> Chat:
        chat_id = params.get("chat_id")
        if chat_id in (None, ""):
            raise TelegramError(400, "Bad Request: chat_id is empty")
        chat = self._find_chat(chat_id)
        # A private chat is invisible to a bot that is not in it.
        if chat is None or (chat.username is None and chat.bot_status in ("left", "kicked")):
            raise TelegramError(400, "Bad Request: chat not found")
        return chat

    def _chat_for_sending(self, params: dict[str, Any]) -> Chat:
        chat = self._reachable_chat(params)
        if chat.migrated_to is not None:
            raise TelegramError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": chat.migrated_to},
            )
        kind = "channel chat" if chat.type == "channel" else "supergroup chat"
        if chat.bot_status == "kicked":
            raise TelegramError(403, f"Forbidden: bot was kicked from the {kind}")
        if chat.bot_status == "left":
            raise TelegramError(403, f"Forbidden: bot is not a member of the {kind}")
        if chat.type == "channel" and (
            chat.bot_status == "member"
            or (chat.bot_status == "administrator" and not chat.can_post)
        ):
            raise TelegramError(400, "Bad Request: need administrator rights in the channel chat")
        return chat

    def _throttle(self, chat: Chat, now: float) -> None:
        if self._flood.left > 0:
            self._flood.left -= 1
            raise _too_many(self._flood.retry_after)
        if self.per_chat_per_minute is None:
            return
        window = self._windows.setdefault(chat.id, _Window())
        window.sent = [t for t in window.sent if now - t < 60.0]
        if len(window.sent) >= self.per_chat_per_minute:
            raise _too_many(max(1, math.ceil(window.sent[0] + 60.0 - now)))
        window.sent.append(now)

    def _bot_id(self, bot: str) -> int:
        return 7_000_000_000 + sorted(self.bots.values()).index(bot)

    def describe(self, request: Request, reply: Reply) -> str:
        body = reply.body if isinstance(reply.body, dict) else {}
        if not body.get("ok"):
            return f"error={body.get('description')!r}"
        result = body.get("result")
        if not reply.created or not isinstance(result, dict):
            return ""
        chat = result["chat"]
        where = f"@{chat['username']}" if chat.get("username") else str(chat["id"])
        return f"message {result['message_id']} in {where}\n    " + json.dumps(
            result["text"], ensure_ascii=False
        )

    def shown_path(self, request: Request) -> str:
        return _PATH.sub(lambda m: f"/bot[token]/{m['method']}", request.path)


# -- the length rule, from TDLib --------------------------------------------------------------

# clean_input_string: C0 controls other than \n and \r become spaces; \r goes; so do U+2028 to
# U+202E (line/paragraph separators, bidi embeddings) and U+0333, U+033F, U+030A.
_TO_SPACE = {code: " " for code in range(32) if code not in (10, 13)}
_REMOVED = {0x0D: None, **dict.fromkeys(range(0x2028, 0x202F)), 0x0333: None, 0x033F: None}
_REMOVED[0x030A] = None
_CLEAN = str.maketrans({**_TO_SPACE, **_REMOVED})
# strip_empty_characters: what counts as blank when deciding that a text is empty.
_SPACES = frozenset(
    "\u1680\u180e\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u202f\u205f\u2800\u3000\ufffc"
)
_INVISIBLE = frozenset(" \n\u200b\u200c\u200d\u200e\u200f\u202e\ufeff\u00a0")


def clean_text(text: str) -> str:
    """The text Telegram keeps: cleaned as TDLib cleans input, spaces and newlines trimmed."""
    return text.translate(_CLEAN).strip(" \n")


def is_empty(text: str) -> bool:
    """True when nothing visible remains (TDLib's is_empty_string)."""
    return all(
        char in _INVISIBLE or char in _SPACES or 0xE0000 <= ord(char) <= 0xE007F for char in text
    )


def message_length(text: str) -> int:
    """The length Telegram checks against 4,096: code points after entity parsing and cleaning."""
    return len(clean_text(text))


# -- HTML parse mode ------------------------------------------------------------------------

_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
# A character reference as TDLib decodes it: the ";" is optional, unknown names stay as written.
_REFERENCE = re.compile(r"&(?:#x([0-9a-fA-F]+)|#([0-9]+)|(lt|gt|amp|quot)(?![A-Za-z]));?")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ATTRIBUTE = re.compile(
    r"""\s*(?P<name>[^\s=>]+)\s*=\s*(?:"(?P<double>[^"]*)"?|'(?P<single>[^']*)'?|(?P<token>[A-Za-z0-9.-]*))"""
)


def _parse(text: str, parse_mode: str | None) -> tuple[str, list[dict[str, Any]]]:
    if parse_mode is None:
        return text, []
    mode = parse_mode.lower()
    if mode == "html":
        return parse_html(text)
    if mode in ("markdown", "markdownv2"):
        return text, []  # not used by our client; accepted unparsed
    raise TelegramError(400, f"Bad Request: unsupported parse_mode {parse_mode!r}")


def parse_html(source: str) -> tuple[str, list[dict[str, Any]]]:
    """Telegram's HTML style (TDLib's parse_html): the supported tags become entities with
    UTF-16 offsets, character references are decoded, and any other `<` is an error."""
    out: list[str] = []
    entities: list[dict[str, Any]] = []
    open_tags: list[tuple[str, int, str]] = []  # name, UTF-16 offset, argument
    position = 0
    while position < len(source):
        char = source[position]
        if char == "&":
            decoded = _reference(source, position)
            if decoded is not None:
                out.append(decoded[0])
                position = decoded[1]
                continue
        if char != "<":
            out.append(char)
            position += 1
            continue
        at = len(source[:position].encode())
        if source.startswith("</", position):
            position = _end_tag(source, position, at, out, open_tags, entities)
        else:
            position = _start_tag(source, position, at, out, open_tags)
    if open_tags:
        raise _unparsable(f"Can't find end tag corresponding to start tag {open_tags[-1][0]}")
    return "".join(out), sorted(entities, key=lambda e: (e["offset"], -e["length"]))


def _reference(source: str, position: int) -> tuple[str, int] | None:
    match = _REFERENCE.match(source, position)
    if match is None:
        return None
    hexadecimal, decimal, named = match.groups()
    if named:
        return _NAMED[named], match.end()
    code = int(hexadecimal, 16) if hexadecimal else int(decimal)
    if code == 0 or code >= 0x10FFFF or match.end() - position > 10:
        return None
    return chr(code), match.end()


def _start_tag(
    source: str, position: int, at: int, out: list[str], open_tags: list[tuple[str, int, str]]
) -> int:
    end = position + 1
    while end < len(source) and not source[end].isspace() and source[end] != ">":
        end += 1
    if end >= len(source):
        raise _unparsable(f"Unclosed start tag at byte offset {at}")
    name = source[position + 1 : end].lower()
    if name not in _TAGS:
        raise _unparsable(f'Unsupported start tag "{name}" at byte offset {at}')
    argument = ""
    while True:
        while end < len(source) and source[end].isspace():
            end += 1
        if end >= len(source):
            raise _unparsable(f"Unclosed start tag at byte offset {at}")
        if source[end] == ">":
            break
        match = _ATTRIBUTE.match(source, end)
        if match is None:
            raise _unparsable(
                f'Expected equal sign in declaration of an attribute of the tag "{name}" at '
                f"byte offset {at}"
            )
        value = next((v for v in match.group("double", "single", "token") if v is not None), "")
        if (name, match["name"]) in (("a", "href"), ("tg-emoji", "emoji-id")):
            argument = value
        elif name == "span" and match["name"] == "class" and value.startswith("tg-"):
            argument = value[3:]
        end = match.end()
    if name == "span" and argument != "spoiler":
        raise _unparsable(f'Tag "span" must have class "tg-spoiler" at byte offset {at}')
    open_tags.append((name, _utf16(out), argument))
    return end + 1


def _end_tag(
    source: str,
    position: int,
    at: int,
    out: list[str],
    open_tags: list[tuple[str, int, str]],
    entities: list[dict[str, Any]],
) -> int:
    if not open_tags:
        raise _unparsable(f"Unexpected end tag at byte offset {at}")
    end = position + 2
    while end < len(source) and not source[end].isspace() and source[end] != ">":
        end += 1
    name = source[position + 2 : end].lower()
    while end < len(source) and source[end].isspace():
        end += 1
    if end >= len(source) or source[end] != ">":
        raise _unparsable(f"Unclosed end tag at byte offset {at}")
    tag, start, argument = open_tags.pop()
    if name and name != tag:
        raise _unparsable(
            f'Unmatched end tag at byte offset {at}, expected "</{tag}>", found "</{name}>"'
        )
    length = _utf16(out) - start
    if length > 0:
        entity: dict[str, Any] = {"type": _TAGS[tag], "offset": start, "length": length}
        if tag == "a":
            entity["url"] = argument or "".join(out)[-length:]
        entities.append(entity)
    return end + 1


def _unparsable(reason: str) -> TelegramError:
    return TelegramError(400, f"Bad Request: can't parse entities: {reason}")


def _utf16(parts: list[str]) -> int:
    return sum(len(part.encode("utf-16-le")) // 2 for part in parts)


# -- parameters -------------------------------------------------------------------------------


def _params(request: Request) -> dict[str, Any]:
    """Parameters from the query string, then a form or JSON body, as the Bot API reads them."""
    params: dict[str, Any] = {k: v[-1] for k, v in parse_qs(request.query).items()}
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json" and request.body:
        try:
            data = json.loads(request.body)
        except ValueError:
            raise TelegramError(400, "Bad Request: can't parse JSON") from None
        if not isinstance(data, dict):
            raise TelegramError(400, "Bad Request: JSON object expected")
        params.update(data)
    elif content_type == "application/x-www-form-urlencoded":
        parsed = parse_qs(request.body.decode("utf-8"), keep_blank_values=True)
        params.update({k: v[-1] for k, v in parsed.items()})
    return params


def _boolean(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", ""):
        return value.lower() in ("true", "1")
    raise TelegramError(400, f"Bad Request: invalid {name} specified")


def _integer(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise TelegramError(400, f"Bad Request: invalid {name} specified") from None


def _link_preview(params: dict[str, Any]) -> dict[str, Any] | None:
    options = params.get("link_preview_options")
    if options is None:
        if _boolean(params.get("disable_web_page_preview", False), "disable_web_page_preview"):
            return {"is_disabled": True}
        return None
    if isinstance(options, str):
        try:
            options = json.loads(options)
        except ValueError:
            options = None
    if not isinstance(options, dict):
        raise TelegramError(400, "Bad Request: can't parse link preview options JSON object")
    return options


def _too_many(retry_after: int) -> TelegramError:
    return TelegramError(
        429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
    )


def _bot_json(username: str, bot_id: int) -> dict[str, Any]:
    return {
        "id": bot_id,
        "is_bot": True,
        "first_name": username,
        "username": username,
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes.telegram",
        description="A local Telegram Bot API server that prints every message it receives.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8083)
    parser.add_argument(
        "--token",
        action="append",
        help="an accepted bot token, optionally TOKEN=BOTNAME (repeatable; default "
        "123456:demo-token)",
    )
    parser.add_argument(
        "--chat",
        action="append",
        help="a public channel the bot administers, e.g. @SafeMigrationKG (repeatable)",
    )
    parser.add_argument(
        "--rate-limit", type=int, default=20, help="messages per minute per chat (0: none)"
    )
    args = parser.parse_args(argv)
    tokens = token_options(args.token, "123456:demo-token", DEFAULT_BOT)
    server = FakeTelegram(
        tokens=tokens,
        chats=args.chat or [DEFAULT_CHAT],
        per_chat_per_minute=args.rate_limit or None,
        host=args.host,
        port=args.port,
        echo=sys.stdout,
    )
    server.start()
    chats = ", ".join(f"@{c.username}" for c in server._chats if c.username)
    print(
        f"Telegram Bot API test server on {server.url}\n"
        f"  bots: {', '.join(sorted(set(tokens.values())))}; channels: {chats}\n"
        f"  channel api_url: {server.url}\n  Ctrl-C stops.",
        flush=True,
    )
    server.serve_forever()


if __name__ == "__main__":
    main()
