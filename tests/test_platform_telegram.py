"""What is special to the Telegram client (the shared contract is tests/contract/test_platform.py):
HTML escaping, link previews and silent posts, t.me links, the Bot API's own errors and their
guidance, check(), the token kept out of urllib3's logs, and the local server's own contract."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from campaign.errors import (
    AuthRejected,
    ConfigurationError,
    PermanentPublishError,
    RateLimited,
)
from tests.fakes.telegram import DEFAULT_CHAT, FakeTelegram, clean_text, is_empty, parse_html
from tests.fixtures.platforms import TELEGRAM_TOKEN, channel
from workers.platforms.base import ClientContext, NoCredentialStore, Outgoing, Published, Timeouts
from workers.platforms.telegram import MaskBotTokens, TelegramClient

MakeOutgoing = Callable[..., Outgoing]
NOW = 1_800_000_000.0


def telegram(
    server: FakeTelegram, token: str = TELEGRAM_TOKEN, account: str = DEFAULT_CHAT, **fields: Any
) -> TelegramClient:
    context = ClientContext(
        channel("telegram", server.url, account=account, **fields),
        {"token": token},
        NoCredentialStore(),
        timeouts=Timeouts(connect=1.0, read=1.0),
        clock=lambda: NOW,
    )
    return TelegramClient(context)


def test_a_plain_text_post_is_sent_as_is_and_linked_on_t_me(
    telegram_server: FakeTelegram, make_outgoing: MakeOutgoing
) -> None:
    # Given a post whose text looks like markup
    post = make_outgoing(text="Салам! <b>not bold</b> & 5 > 3 🇰🇬 https://example.org/?a=1&b=2")

    # When it is published to a public channel
    with telegram(telegram_server) as client:
        published = client.publish(post)

    # Then Telegram got plain text (no parse mode), and the post links to t.me
    [message] = telegram_server.messages
    assert message.parse_mode is None
    assert message.text == post.text
    assert published == Published(str(message.message_id), "https://t.me/SafeMigrationKG/1")


def test_html_mode_escapes_the_text_so_readers_see_exactly_the_preview(
    telegram_server: FakeTelegram, make_outgoing: MakeOutgoing
) -> None:
    # Given an HTML channel and a text with every character HTML gives a meaning to
    post = make_outgoing(text='Права <мигрантов> & "R&D" <b>x</b> &amp; 🇰🇬 — a<3')

    # When it is published
    with telegram(telegram_server, parse_mode="html") as client:
        client.publish(post)

    # Then it went as HTML that Telegram parses back to exactly the text, with no markup in it
    [message] = telegram_server.messages
    assert message.parse_mode == "HTML"
    assert message.sent_text != post.text
    assert message.text == post.text
    assert message.entities == ()


def test_link_previews_and_notifications_follow_the_channel(
    telegram_server: FakeTelegram, make_outgoing: MakeOutgoing
) -> None:
    # Given one channel with defaults and one without previews that posts silently
    with telegram(telegram_server) as plain:
        plain.publish(make_outgoing())
    with telegram(telegram_server, link_preview=False, silent=True) as quiet:
        quiet.publish(make_outgoing())

    # Then the defaults send neither option, and the other turns both on
    first, second = telegram_server.messages
    assert (first.link_preview_options, first.disable_notification) == (None, False)
    assert second.link_preview_options == {"is_disabled": True}
    assert second.disable_notification is True


def test_a_private_chat_has_no_public_link(
    telegram_server: FakeTelegram, make_outgoing: MakeOutgoing
) -> None:
    # Given a private channel, addressed by its numeric id
    private = telegram_server.add_chat(None, title="Volunteers")

    # When a post is published there
    with telegram(telegram_server, account=str(private.id)) as client:
        published = client.publish(make_outgoing())

    # Then it is recorded by message id, without a URL
    assert published.remote_id == "1"
    assert published.url is None
    assert telegram_server.messages[0].chat_id == private.id


def test_flood_control_waits_the_seconds_telegram_names(
    telegram_server: FakeTelegram, make_outgoing: MakeOutgoing
) -> None:
    # Given a chat in flood control for 17 seconds (said in the body, not in a header)
    telegram_server.flood(retry_after=17)

    # When a post is published
    with telegram(telegram_server) as client, pytest.raises(RateLimited) as caught:
        client.publish(make_outgoing())

    # Then it waits exactly that long from the client's clock
    assert caught.value.retry_at == datetime.fromtimestamp(NOW, UTC) + timedelta(seconds=17)


def test_the_per_chat_limit_is_flood_control_too(
    make_telegram_server: Callable[..., FakeTelegram], make_outgoing: MakeOutgoing
) -> None:
    server = make_telegram_server(per_chat_per_minute=2)
    with telegram(server) as client:
        client.publish(make_outgoing())
        client.publish(make_outgoing())
        with pytest.raises(RateLimited) as caught:
            client.publish(make_outgoing())

    assert caught.value.retry_at is not None
    assert len(server.messages) == 2


def test_a_group_that_became_a_supergroup_names_the_new_id(
    telegram_server: FakeTelegram, make_outgoing: MakeOutgoing
) -> None:
    # Given a group the bot posts to, upgraded to a supergroup with a new id
    group = telegram_server.add_chat(None, title="Partners", type="group", bot_status="member")
    supergroup = telegram_server.migrate(group)

    # When a post is published to the old id
    client = telegram(telegram_server, account=str(group.id))
    with client, pytest.raises(PermanentPublishError) as caught:
        client.publish(make_outgoing())

    # Then the operator is told the id to write in the campaign file
    assert f'account to "{supergroup.id}"' in str(caught.value)
    assert telegram_server.messages == []


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("kicked", "the bot was removed from @SafeMigrationKG"),
        ("left", "the bot may not post to @SafeMigrationKG"),
        ("member", "the bot is not an administrator of @SafeMigrationKG"),
    ],
)
def test_a_bot_without_the_right_to_post_fails_with_guidance(
    make_telegram_server: Callable[..., FakeTelegram],
    make_outgoing: MakeOutgoing,
    status: str,
    expected: str,
) -> None:
    # Given a channel where the bot was removed, left, or is not an administrator
    server = make_telegram_server(chats=[])
    server.add_chat(DEFAULT_CHAT, bot_status=status)

    # When a post is published
    with telegram(server) as client, pytest.raises(AuthRejected) as caught:
        client.publish(make_outgoing())

    # Then the error says what happened and how to fix it
    assert expected in str(caught.value)
    assert "administrator with the right to post messages" in str(caught.value)


def test_a_revoked_token_says_where_to_get_the_current_one(
    telegram_server: FakeTelegram, make_outgoing: MakeOutgoing
) -> None:
    client = telegram(telegram_server, token="555:AAE-revoked-token-abcdefghijklmnop")

    with client, pytest.raises(AuthRejected) as caught:
        client.publish(make_outgoing())

    assert "@BotFather" in str(caught.value)
    assert "TELEGRAM_SECRET" in str(caught.value)


def test_an_unknown_chat_says_what_account_must_be(
    telegram_server: FakeTelegram, make_outgoing: MakeOutgoing
) -> None:
    client = telegram(telegram_server, account="@NoSuchChannel")

    with client, pytest.raises(PermanentPublishError) as caught:
        client.publish(make_outgoing())

    assert not isinstance(caught.value, AuthRejected)
    assert "@NoSuchChannel was not found" in str(caught.value)


def test_a_value_that_is_not_a_bot_token_is_refused_before_any_request(
    telegram_server: FakeTelegram,
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        telegram(telegram_server, token="not a token")

    assert "@BotFather" in str(caught.value)
    assert "not a token" not in str(caught.value)
    assert telegram_server.requests == []


# check(): one harmless set of calls, no posting


def test_check_says_which_bot_posts_where(telegram_server: FakeTelegram) -> None:
    with telegram(telegram_server) as client:
        said = client.check()

    assert said == "bot @CampaignTestBot can post to channel 'SafeMigrationKG' " + (
        "(@SafeMigrationKG) as administrator"
    )
    assert telegram_server.messages == []
    assert [r.path.rsplit("/", 1)[1] for r in telegram_server.requests] == [
        "getMe",
        "getChat",
        "getChatMember",
    ]


@pytest.mark.parametrize(
    ("status", "can_post", "expected"),
    [
        ("administrator", False, "administers channel 'SafeMigrationKG' (@SafeMigrationKG) but"),
        ("member", True, "is not an administrator of channel"),
        ("left", True, "is not a member of channel"),
        ("kicked", True, "was removed from channel"),
    ],
)
def test_check_says_when_the_bot_may_not_post(
    make_telegram_server: Callable[..., FakeTelegram], status: str, can_post: bool, expected: str
) -> None:
    server = make_telegram_server(chats=[])
    server.add_chat(DEFAULT_CHAT, bot_status=status, can_post=can_post)

    with telegram(server) as client, pytest.raises(AuthRejected) as caught:
        client.check()

    assert expected in str(caught.value)


def test_check_with_a_bad_token_fails_at_the_first_call(telegram_server: FakeTelegram) -> None:
    client = telegram(telegram_server, token="555:AAE-revoked-token-abcdefghijklmnop")

    with client, pytest.raises(AuthRejected):
        client.check()

    assert len(telegram_server.requests) == 1


# The token in the URL path


def test_urllib3_debug_lines_show_the_path_with_the_token_masked(
    telegram_server: FakeTelegram, make_outgoing: MakeOutgoing, caplog: pytest.LogCaptureFixture
) -> None:
    # Given urllib3 logging every request line at DEBUG
    caplog.set_level(logging.DEBUG, logger="urllib3")

    # When a post is published
    with telegram(telegram_server) as client:
        client.publish(make_outgoing())

    # Then urllib3's request line is there, masked on the record itself
    lines = [r.getMessage() for r in caplog.records if r.name == "urllib3.connectionpool"]
    assert any('"POST /bot[redacted]/sendMessage HTTP/1.1" 200' in line for line in lines)
    assert all(TELEGRAM_TOKEN not in line for line in lines)


def test_the_mask_applies_to_a_handler_on_urllib3_itself(
    telegram_server: FakeTelegram, make_outgoing: MakeOutgoing
) -> None:
    # Given a handler an application put straight on urllib3's connection pool logger
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    logger = logging.getLogger("urllib3.connectionpool")
    handler, level = Keep(logging.DEBUG), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        with telegram(telegram_server) as client:
            client.publish(make_outgoing())
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)

    # Then that handler too only ever got the masked path
    assert seen
    assert all(TELEGRAM_TOKEN not in record.getMessage() for record in seen)


def test_the_mask_reads_the_formatted_record_and_leaves_other_paths_alone() -> None:
    # Given records as urllib3 makes them: a format string and arguments holding the URL
    mask = MaskBotTokens()
    retry = logging.LogRecord(
        "urllib3.util.retry", logging.DEBUG, "retry.py", 1,
        "Incremented Retry for (url='%s'): %r", ("/bot42%3AAAsecret-x/getMe", "Retry(total=0)"),
        None,
    )  # fmt: skip
    other = logging.LogRecord(
        "urllib3.connectionpool", logging.DEBUG, "pool.py", 1, '"%s %s"', ("GET", "/bottles/1"),
        None,
    )  # fmt: skip

    # When the mask sees them (it never drops a record)
    assert mask.filter(retry)
    assert mask.filter(other)

    # Then the token is gone from the record, and a path that holds none is untouched
    assert (
        retry.getMessage() == "Incremented Retry for (url='/bot[redacted]/getMe'): 'Retry(total=0)'"
    )
    assert other.getMessage() == '"GET /bottles/1"'


# The local server's own contract: what the other tests rely on it to enforce.


def _call(server: FakeTelegram, method: str, token: str = TELEGRAM_TOKEN, **params: Any) -> Any:
    with requests.Session() as session:
        return session.post(f"{server.url}/bot{token}/{method}", json=params).json()


def test_the_fake_counts_as_tdlib_does() -> None:
    # Control characters become spaces, \r and U+2028-U+202E go, the ends are trimmed
    assert clean_text(" \n a\tb\r\nc\u2028d\u202ee \n") == "a b\ncde"
    # Code points, not UTF-16 units: an emoji outside the BMP is one
    assert len(clean_text("🇰🇬" * 2048)) == 4096
    # Invisible characters alone make an empty text
    assert is_empty("\u200b\u00a0 \u2800")
    assert not is_empty("\u200b.")


def test_the_fake_refuses_one_code_point_over_4096(telegram_server: FakeTelegram) -> None:
    chat = DEFAULT_CHAT
    assert _call(telegram_server, "sendMessage", chat_id=chat, text="😀" * 4096)["ok"]
    too_long = _call(telegram_server, "sendMessage", chat_id=chat, text="😀" * 4097)
    assert too_long["description"] == "Bad Request: message is too long"
    # whitespace at the ends is not counted; only invisible characters are empty
    assert _call(telegram_server, "sendMessage", chat_id=chat, text=" " + "a" * 4096 + "\n")["ok"]
    empty = _call(telegram_server, "sendMessage", chat_id=chat, text="\u200b \n")
    assert empty["description"] == "Bad Request: message text is empty"


def test_the_fake_parses_html_as_telegram_does() -> None:
    text, entities = parse_html(
        '<b>Bold</b> &lt;x&gt; &amp; &quot; &#128512; <a href="https://a.b">l</a>'
    )
    assert text == 'Bold <x> & " 😀 l'
    assert entities == [
        {"type": "bold", "offset": 0, "length": 4},
        {"type": "text_link", "offset": 16, "length": 1, "url": "https://a.b"},
    ]


def test_the_fake_refuses_markup_telegram_cannot_parse(telegram_server: FakeTelegram) -> None:
    answer = _call(
        telegram_server, "sendMessage", chat_id=DEFAULT_CHAT, text="a <3 b", parse_mode="HTML"
    )
    assert answer["error_code"] == 400
    assert answer["description"].startswith("Bad Request: can't parse entities: Unsupported")
    assert telegram_server.messages == []


def test_the_fake_tells_a_malformed_token_from_an_unknown_one(
    telegram_server: FakeTelegram,
) -> None:
    assert _call(telegram_server, "getMe", token="nonsense")["error_code"] == 404
    assert _call(telegram_server, "getMe", token="1:unknown")["error_code"] == 401
    assert _call(telegram_server, "getMe")["result"]["username"] == "CampaignTestBot"
    assert _call(telegram_server, "noSuchMethod")["error_code"] == 404
