"""Telegram: `sendMessage` through the Bot API, as a bot that administers the channel.

The text is plain text, sent as it was previewed. With the channel's `parse_mode: html` it is
escaped (`&`, `<`, `>`) and sent as HTML: readers see exactly the previewed text, and nothing in
it can turn into markup or make Telegram refuse the message ("can't parse entities").
`link_preview: false` turns the preview card of the first link off; `silent: true` sends the
message without a notification sound.

Not idempotent: the Bot API has no idempotency key and no duplicate check, so an attempt whose
answer was lost stays unknown for a person to check, and is never sent again (Resend.UNSAFE).

The token is part of every URL (`/bot<token>/<method>`), so:
- messages name endpoints as `api.telegram.org/bot[redacted]/sendMessage`;
- no requests exception is chained to ours (workers/platforms/http.py raises outside its
  handler), and requests are built with the URL left out of their repr;
- urllib3 logs every request line, path included, at DEBUG: a filter that masks `/bot<...>` in
  each record is installed on urllib3's loggers before the first request, so no handler of any
  logger ever sees the token (`mask_bot_tokens_in_urllib3_logs`).
"""

from __future__ import annotations

import html
import json
import logging
import re
import threading
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import urlencode, urlsplit

import requests

from campaign.errors import (
    AuthRejected,
    ConfigurationError,
    OutcomeUnknown,
    PermanentPublishError,
    PublishError,
    RateLimited,
)
from workers.platforms.auth import HttpRequest
from workers.platforms.base import REDACTED, ClientContext, Outgoing, Published, Resend
from workers.platforms.http import HttpClient, credential_names, excerpt

log = logging.getLogger(__name__)

_TOKEN = re.compile(r"^[0-9]+:[A-Za-z0-9_-]+$")
# `/bot<digits>:<rest>` in a URL path, ":" possibly percent-encoded.
_BOT_PATH = re.compile(r"/bot[0-9]+(?::|%3[Aa])[^/\s'\"]*")
_JSON = {"Content-Type": "application/json; charset=utf-8", "Accept": "application/json"}
# Every logger urllib3 (2.x) writes to; others that exist when a client is built are added.
_URLLIB3_LOGGERS = (
    "urllib3",
    "urllib3.connection",
    "urllib3.connectionpool",
    "urllib3.poolmanager",
    "urllib3.response",
    "urllib3.util.retry",
    "urllib3.http2.connection",
    "urllib3.contrib.pyopenssl",
    "urllib3.contrib.emscripten.response",
)


class MaskBotTokens(logging.Filter):
    """Masks `/bot<token>` in a log record itself, so every handler gets the masked record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: logging reports it as it would have
            return True
        masked = _BOT_PATH.sub(f"/bot{REDACTED}", message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


_MASK = MaskBotTokens()
_installed = threading.Lock()


def mask_bot_tokens_in_urllib3_logs() -> None:
    """Install the filter on every urllib3 logger (a logger's filters apply to the records
    created on it, before its handlers and its parents' handlers see them). Idempotent."""
    with _installed:
        present = [name for name in logging.root.manager.loggerDict if name.startswith("urllib3")]
        for name in {*_URLLIB3_LOGGERS, *present}:
            logger = logging.getLogger(name)
            if _MASK not in logger.filters:
                logger.addFilter(_MASK)


class TelegramClient(HttpClient):
    """Sends messages to one Telegram chat (the channel's `account`) as the channel's bot."""

    platform: ClassVar[str] = "telegram"
    resend: ClassVar[Resend] = Resend.UNSAFE

    def __init__(self, context: ClientContext) -> None:
        super().__init__(context)
        mask_bot_tokens_in_urllib3_logs()
        channel = context.channel
        token = context.secret("token")
        if not _TOKEN.match(token):
            raise ConfigurationError(
                f"{credential_names(channel)} does not hold a bot token: copy the whole token "
                "('<digits>:<letters>') that @BotFather gave"
            )
        if channel.account is None:
            raise ConfigurationError("a telegram channel needs account: @channel or a chat id")
        self.chat = channel.account
        self._chat_id: str | int = self.chat if self.chat.startswith("@") else int(self.chat)
        base = channel.resolved_api_url() or "https://api.telegram.org"
        self._base = f"{base}/bot{token}"  # holds the secret: never in a message or log
        parts = urlsplit(base)
        self._shown = f"{parts.netloc}{parts.path}/bot{REDACTED}"
        self.html = channel.parse_mode == "html"

    def publish(self, post: Outgoing) -> Published:
        params: dict[str, Any] = {"chat_id": self._chat_id, "text": post.text}
        if self.html:
            # Telegram's HTML knows &lt; &gt; &amp; (and &quot;): escaping these three is
            # enough for the text to come out exactly as written.
            params["text"] = html.escape(post.text, quote=False)
            params["parse_mode"] = "HTML"
        if self.channel.link_preview is False:
            params["link_preview_options"] = {"is_disabled": True}
        if self.channel.silent:
            params["disable_notification"] = True
        what = self._what("sendMessage")
        body = json.dumps(params, ensure_ascii=False).encode("utf-8")
        response = self._post(f"{self._base}/sendMessage", body=body, headers=_JSON, what=what)
        message = self._result(response, what, read=False)
        message_id = message.get("message_id") if isinstance(message, dict) else None
        if not isinstance(message_id, int):
            raise OutcomeUnknown(
                f"telegram: {what} answered without a message id; the post was probably sent"
            )
        published = Published(str(message_id), self._url(message, message_id))
        log.debug("telegram: post %s sent as message %s", post.post_id, message_id)
        return published

    def check(self) -> str:
        """getMe, getChat and getChatMember: who the bot is, and whether it may post here."""
        me = self._read("getMe", {})
        bot = f"@{me.get('username')}"
        chat = self._read("getChat", {"chat_id": self._chat_id})
        member = self._read("getChatMember", {"chat_id": self._chat_id, "user_id": me.get("id")})
        kind = str(chat.get("type") or "chat")
        name = f"{kind} '{chat.get('title')}'" + (
            f" (@{chat['username']})" if chat.get("username") else f" ({chat.get('id')})"
        )
        status = member.get("status")
        if status == "creator" or (
            status == "administrator" and (kind != "channel" or member.get("can_post_messages"))
        ):
            return f"bot {bot} can post to {name} as {status}"
        if status == "administrator":
            raise AuthRejected(
                f"telegram: bot {bot} administers {name} but may not post: in the channel's "
                "administrators, give it the right to post messages"
            )
        if status in ("member", "restricted") and kind != "channel":
            return f"bot {bot} can post to {name} as a member"
        role = {"left": "is not a member of", "kicked": "was removed from"}.get(
            str(status), "is not an administrator of"
        )
        raise AuthRejected(
            f"telegram: bot {bot} {role} {name}: add it to the channel as an administrator "
            "with the right to post messages"
        )

    def _read(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        what = self._what(method)
        url = f"{self._base}/{method}" + (f"?{urlencode(params)}" if params else "")
        response = self._exchange(HttpRequest("GET", url, what=what))
        result = self._result(response, what, read=True)
        if not isinstance(result, dict):
            raise PermanentPublishError(f"telegram: {what} answered something unexpected")
        return result

    def _result(self, response: requests.Response, what: str, *, read: bool) -> Any:
        """The `result` of an `{"ok": true}` answer."""
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if isinstance(answer, dict) and answer.get("ok") is True and "result" in answer:
            return answer["result"]
        status = response.status_code
        if read:
            raise PermanentPublishError(
                f"telegram: {what} did not answer like the Bot API (HTTP {status}): check api_url"
            )
        raise OutcomeUnknown(
            f"telegram: {what} answered HTTP {status} without the message; it was probably sent"
        )

    def _url(self, message: dict[str, Any], message_id: int) -> str | None:
        """t.me/<username>/<id> for a public chat; private chats have no public link."""
        chat = message.get("chat")
        username = chat.get("username") if isinstance(chat, dict) else None
        if not isinstance(username, str) and self.chat.startswith("@"):
            username = self.chat[1:]
        return f"https://t.me/{username}/{message_id}" if isinstance(username, str) else None

    def _what(self, method: str) -> str:
        return f"{self._shown}/{method}"

    def _platform_error(self, response: requests.Response, what: str) -> PublishError | None:
        """Read `{"ok": false, "error_code", "description", "parameters"}` first."""
        try:
            answer = response.json()
        except ValueError:
            return None  # not the Bot API speaking (a proxy's page): the HTTP status decides
        if not isinstance(answer, dict) or answer.get("ok") is not False:
            return None
        code = answer.get("error_code")
        code = code if isinstance(code, int) else response.status_code
        description = self._redact(str(answer.get("description") or f"HTTP {code}"))
        said = excerpt(description)
        parameters = answer.get("parameters")
        parameters = parameters if isinstance(parameters, dict) else {}
        retry_after = parameters.get("retry_after")
        if isinstance(retry_after, int | float) and retry_after >= 0:
            retry_at = datetime.fromtimestamp(self.context.clock() + retry_after, UTC)
            return RateLimited(f"telegram: rate limited ({said})", retry_at=retry_at)
        new_id = parameters.get("migrate_to_chat_id")
        if isinstance(new_id, int):
            return PermanentPublishError(
                f"telegram: {self.chat} became a supergroup with the id {new_id} ({said}): set "
                f'the channel\'s account to "{new_id}"'
            )
        return self._refusal(code, description.lower(), said, what)

    def _refusal(self, code: int, lowered: str, said: str, what: str) -> PublishError | None:
        names = credential_names(self.channel)
        admin = "add the bot to the channel as an administrator with the right to post messages"
        if code == 401:
            return AuthRejected(
                f"telegram: the bot token in {names} was refused ({said}): it was revoked or "
                f"mistyped; copy the bot's current token from @BotFather (/mybots, API Token) "
                f"into {names}"
            )
        if code == 404:
            return AuthRejected(
                f"telegram: {what} answered {said}: the token in {names} is incomplete, or "
                "api_url is not a Bot API server; copy the whole token from @BotFather"
            )
        if code == 403:
            if "kicked" in lowered:
                return AuthRejected(
                    f"telegram: the bot was removed from {self.chat} ({said}): {admin}"
                )
            return AuthRejected(f"telegram: the bot may not post to {self.chat} ({said}): {admin}")
        if "administrator rights" in lowered or "not enough rights" in lowered:
            return AuthRejected(
                f"telegram: the bot is not an administrator of {self.chat} who may post "
                f"({said}): {admin}"
            )
        if "chat not found" in lowered:
            return PermanentPublishError(
                f"telegram: {self.chat} was not found ({said}): account must be the @username "
                "of a public channel or the numeric id of a private one, and the bot a member"
            )
        if 400 <= code < 500 and code not in (408, 429):
            return PermanentPublishError(f"telegram: {what} refused the request ({said})")
        return None  # 5xx, 408, 429 without retry_after: the generic mapping decides
