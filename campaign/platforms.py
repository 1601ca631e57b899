"""What we know of each platform, in one table: read by the campaign definition, the length
rules, the preview, the rate limiter and the platform clients.

Sources are named per fact; /docs/platforms.md says more. A platform's client (in
workers/platforms/) adds how to talk to it; nothing here needs the network.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RateFact:
    """At most `requests` publish calls per `per_seconds` for one account."""

    requests: int
    per_seconds: int


@dataclass(frozen=True)
class Platform:
    """The facts of one platform."""

    name: str  # as written in campaign files: `platform: mastodon`
    display: str  # as written for people: "Mastodon"
    article: str  # "a" or "an" before the name as read aloud ("an X-specific template")
    api_url: str | None  # where its API lives when a channel does not say
    needs_api_url: bool  # a channel must name its server (no default)
    limit: int | None  # the length limit in the platform's own unit, None: unlimited
    limit_is_configurable: bool  # a channel may set max_length (the server decides)
    rate_limit: RateFact | None  # the default rate limit of one account
    # The secrets a channel needs, by role. `credentials: NAME` names the first one; a mapping
    # `credentials: {role: NAME}` names each. `optional` ones may be left out.
    secrets: tuple[str, ...] = ()
    optional_secrets: tuple[str, ...] = ()
    # Channel keys that mean something for this platform (besides platform, account,
    # credentials, locales and rate_limit, which every platform has).
    keys: frozenset[str] = frozenset()


PLATFORMS: dict[str, Platform] = {
    p.name: p
    for p in (
        Platform(
            "mastodon", "Mastodon", "a",
            api_url=None, needs_api_url=True,
            # configuration.statuses.max_characters of the instance (500 by default)
            limit=500, limit_is_configurable=True,
            rate_limit=RateFact(300, 300),  # 300 requests per 5 minutes per account
            secrets=("token",),
            keys=frozenset({"api_url", "max_length", "visibility"}),
        ),
        Platform(
            "bluesky", "Bluesky", "a",
            api_url="https://bsky.social", needs_api_url=False,
            limit=300, limit_is_configurable=False,  # graphemes (and 3,000 bytes)
            # 5,000 write points per hour, 3 points per created record
            rate_limit=RateFact(1666, 3600),
            # An app password; the identifier is the channel's account (its handle) unless set.
            secrets=("password",), optional_secrets=("identifier",),
            keys=frozenset({"api_url"}),
        ),
        Platform(
            "telegram", "Telegram", "a",
            api_url="https://api.telegram.org", needs_api_url=False,
            limit=4096, limit_is_configurable=False,
            rate_limit=RateFact(20, 60),  # about 20 messages per minute to one channel
            secrets=("token",),
            keys=frozenset({"api_url", "parse_mode", "link_preview", "silent"}),
        ),
        Platform(
            "facebook", "Facebook", "a",
            api_url="https://graph.facebook.com", needs_api_url=False,
            limit=63206, limit_is_configurable=False,
            rate_limit=RateFact(200, 3600),
            secrets=("token",),  # a Page access token with pages_manage_posts
            keys=frozenset({"api_url", "api_version"}),
        ),
        Platform(
            "x", "X", "an",
            api_url="https://api.x.com", needs_api_url=False,
            limit=280, limit_is_configurable=False,  # weighted (twitter-text v3)
            rate_limit=RateFact(100, 900),
            # OAuth 2.0 user context: the app's client id and a refresh token (offline.access);
            # a confidential client also has a secret.
            secrets=("refresh_token", "client_id"), optional_secrets=("client_secret",),
            keys=frozenset({"api_url"}),
        ),
        Platform(
            "webhook", "the webhook", "a",
            api_url=None, needs_api_url=True,
            limit=None, limit_is_configurable=True,
            rate_limit=None,
            secrets=("key",),  # the HMAC signing key
            keys=frozenset({"api_url", "max_length"}),
        ),
        Platform(
            "outbox", "the outbox", "an",
            api_url=None, needs_api_url=False,
            limit=None, limit_is_configurable=True,
            rate_limit=None,
            keys=frozenset({"directory", "max_length"}),
        ),
    )
}  # fmt: skip

NAMES: tuple[str, ...] = tuple(PLATFORMS)


def platform(name: str) -> Platform:
    """The facts of a platform.

    Raises:
        KeyError: not a platform we know.
    """
    return PLATFORMS[name]
