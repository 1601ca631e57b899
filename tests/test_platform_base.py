"""The client interface: the registry and the one parser of "try again later" signals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from campaign.errors import ConfigurationError
from tests.fixtures.platforms import FACEBOOK_TOKEN, TELEGRAM_TOKEN, channel, make_client
from workers.platforms import retry_at_from
from workers.platforms.base import client_class, resend_policy
from workers.platforms.facebook import FacebookClient
from workers.platforms.mastodon import MastodonClient
from workers.platforms.outbox import OutboxClient
from workers.platforms.telegram import TelegramClient
from workers.platforms.webhook import WebhookClient
from workers.store import ResendRule

NOW = datetime(2026, 11, 22, 8, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param(
            {"Retry-After": "120"}, NOW + timedelta(seconds=120), id="retry-after-seconds"
        ),
        pytest.param(
            {"Retry-After": "Sun, 22 Nov 2026 08:05:00 GMT"},
            datetime(2026, 11, 22, 8, 5, tzinfo=UTC),
            id="retry-after-http-date",
        ),
        pytest.param(
            {"X-RateLimit-Reset": "2026-11-22T08:05:00.019685Z"},
            datetime(2026, 11, 22, 8, 5, 0, 19685, tzinfo=UTC),
            id="mastodon-iso-8601",
        ),
        pytest.param(
            {"x-ratelimit-reset": "2026-11-22T10:05:00+02:00"},
            datetime(2026, 11, 22, 8, 5, tzinfo=UTC),
            id="iso-with-offset-any-case",
        ),
        pytest.param(
            {"RateLimit-Reset": str(int(NOW.timestamp()) + 300)},
            NOW + timedelta(seconds=300),
            id="epoch-seconds",
        ),
        pytest.param(
            {"RateLimit-Reset": "42"}, NOW + timedelta(seconds=42), id="ietf-delta-seconds"
        ),
        pytest.param(
            {"Retry-After": "10", "X-RateLimit-Reset": "2026-11-22T08:01:00Z"},
            datetime(2026, 11, 22, 8, 1, tzinfo=UTC),
            id="latest-signal-wins",
        ),
        pytest.param({"X-RateLimit-Reset": "2026-11-22T07:00:00Z"}, NOW, id="past-means-now"),
        pytest.param({"Retry-After": "soon"}, None, id="garbage"),
        pytest.param({"X-RateLimit-Reset": "2026-99-99T00:00:00Z"}, None, id="bad-iso"),
        pytest.param({"RateLimit-Reset": "nan"}, None, id="nan"),
        pytest.param({}, None, id="no-signal"),
    ],
)
def test_retry_at_reads_every_signal(headers: dict[str, str], expected: datetime | None) -> None:
    # Given response headers from some platform
    # When the retry time is read
    retry_at = retry_at_from(headers, now=NOW)

    # Then it is the UTC instant the platform meant
    assert retry_at == expected
    assert retry_at is None or retry_at.tzinfo is UTC


@pytest.mark.parametrize(
    ("platform", "api_url", "secret", "account", "expected"),
    [
        ("mastodon", "https://mastodon.example", "token", None, MastodonClient),
        ("webhook", "https://hooks.example/in", "key", None, WebhookClient),
        ("outbox", None, None, None, OutboxClient),
        ("telegram", None, TELEGRAM_TOKEN, "@SafeMigrationKG", TelegramClient),
        ("facebook", None, FACEBOOK_TOKEN, "SafeMigrationKG", FacebookClient),
    ],
)
def test_client_for_picks_the_platforms_client(
    platform: str, api_url: str | None, secret: str | None, account: str | None, expected: type
) -> None:
    # Given a channel of a supported platform
    # When a client is asked for
    with make_client(channel(platform, api_url, account=account), secret) as client:
        # Then it is that platform's client
        assert type(client) is expected
        assert client.platform == platform


def test_a_platform_without_a_client_is_a_configuration_error() -> None:
    # Given a platform this version has no client for
    # When its client is asked for
    with pytest.raises(ConfigurationError) as caught:
        client_class("myspace")

    # Then the error says which platforms are available
    assert "myspace" in str(caught.value)
    assert "mastodon" in str(caught.value)


def test_a_resend_window_ends_one_lease_early_and_never_after_the_cap() -> None:
    # Mastodon keeps an Idempotency-Key one hour; an attempt claimed inside the window may run
    # for a whole lease (120 s), so the window for claiming a resend ends that much earlier
    policy = resend_policy(margin=120)
    assert policy["mastodon"] == ResendRule(allowed=True, window=3600 - 120)
    # Bluesky's record key is kept for ever, and never needs a window
    assert policy["bluesky"] == ResendRule(allowed=True, window=None)
    # Telegram and webhooks cannot resend safely: they are never resent
    assert "telegram" not in policy
    assert "webhook" not in policy

    # A server that keeps keys for less (CAMPAIGN_IDEMPOTENCY_WINDOW) caps the window first
    capped = resend_policy(margin=120, cap=600)
    assert capped["mastodon"] == ResendRule(allowed=True, window=600 - 120)
    assert capped["bluesky"] == ResendRule(allowed=True, window=None)
