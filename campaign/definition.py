"""The campaign file, as typed models: what a campaign manager may write, and nothing else.

Every model forbids unknown keys, so a typo is an error rather than a silently ignored setting.
Cross-references (audience -> channel, message -> audience) are checked in `campaign.validate`,
where the source lines are at hand.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrulestr
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    PlainValidator,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from campaign import platforms
from campaign.locales import is_known_locale

Platform = Literal["mastodon", "bluesky", "telegram", "facebook", "x", "webhook", "outbox"]
PLATFORMS: tuple[str, ...] = platforms.NAMES
# Platforms whose server decides the limit per instance or per receiver, so a channel may set
# max_length (campaign.rules counts with it).
PLATFORMS_WITH_CONFIGURABLE_LIMIT: frozenset[str] = frozenset(
    name for name, facts in platforms.PLATFORMS.items() if facts.limit_is_configurable
)

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
_LOCAL_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2})?$")
_QUIET_HOURS = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
_GRAPH_VERSION = re.compile(r"^v[0-9]+\.[0-9]+$")
# A public Telegram chat's @username (5-32 letters, digits, _) or a numeric chat id.
_TELEGRAM_CHAT = re.compile(r"^(@[A-Za-z][A-Za-z0-9_]{3,31}|-?[0-9]+)$")
# A Facebook Page's numeric id, or its username (letters, digits and dots).
_FACEBOOK_PAGE = re.compile(r"^([0-9]+|[A-Za-z0-9.]+)$")
_ACCOUNTS = {
    "telegram": (
        _TELEGRAM_CHAT,
        "Telegram chat",
        'the channel\'s public @username (e.g. "@SafeMigrationKG") or its numeric chat id',
    ),
    "facebook": (
        _FACEBOOK_PAGE,
        "Facebook Page",
        "the Page's numeric id (Page > About > Page transparency), or its username",
    ),
}
# Keys that only some platforms take (campaign.platforms says which).
_PLATFORM_KEYS = frozenset({"parse_mode", "link_preview", "silent", "api_version"})


def _check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"'{name}' is not an IANA time zone (e.g. Asia/Bishkek, Europe/Belgrade)"
        ) from None
    return name


def _check_locale(code: str) -> str:
    if not is_known_locale(code):
        raise ValueError(
            f"'{code}' is not a known language code (ISO 639-1, optionally with a region or "
            "script: ky, ru, en, sq, sr, sr-Latn)"
        )
    return code


def _check_slug(value: str) -> str:
    if not _SLUG.match(value):
        raise ValueError(
            f"'{value}' must be lower-case letters, digits, '-' or '_' (e.g. safe-migration)"
        )
    return value


def _check_credentials(value: str) -> str:
    if not _ENV_NAME.match(value):
        raise ValueError(
            "credentials must name an environment variable (e.g. MASTODON_TOKEN), never hold "
            "the secret itself; put the secret in the environment or .env"
        )
    return value


def _check_graph_version(value: str) -> str:
    if not _GRAPH_VERSION.match(value):
        raise ValueError(f"'{value}' is not a Graph API version: write it as v26.0")
    return value


def _check_account(platform: str, account: str | None) -> None:
    """The account names what the platform's API addresses (a Telegram chat, a Facebook Page)."""
    rule = _ACCOUNTS.get(platform)
    if rule is None:
        return
    pattern, kind, what = rule
    if account is None:
        raise ValueError(f"a {platform} channel needs account: {what}")
    if not pattern.match(account):
        raise ValueError(f"account '{account}' is not a {kind}: write {what}")


def _check_local_datetime(value: str) -> str:
    if not _LOCAL_DATETIME.match(value):
        raise ValueError(f"'{value}' is not a local date-time 'YYYY-MM-DD HH:MM'")
    try:
        datetime.fromisoformat(value.replace(" ", "T"))
    except ValueError:
        raise ValueError(f"'{value}' is not a real date and time") from None
    return value


def _check_rrule(value: str) -> str:
    if "DTSTART" in value.upper() or "\n" in value:
        raise ValueError("write only the RRULE part; it starts on the campaign start date")
    try:
        rrulestr(value, dtstart=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"'{value}' is not a valid RFC 5545 RRULE: {exc}") from None
    return value


def _check_secrets(facts: platforms.Platform, credentials: str | dict[str, str] | None) -> None:
    """The channel names a variable for each secret its platform needs, and only those."""
    needed, optional = facts.secrets, facts.optional_secrets
    kind = f"{facts.article} {facts.name} channel"
    if not needed:
        if credentials is not None:
            raise ValueError(f"{kind} takes no credentials: remove the key")
        return
    example = ", ".join(f"{role}: {facts.name.upper()}_{role.upper()}" for role in needed)
    if credentials is None:
        what = " and ".join(r.replace("_", " ") for r in needed)
        if len(needed) == 1:
            raise ValueError(
                f"{kind} needs credentials: the name of the environment variable that holds "
                f"its {what}"
            )
        raise ValueError(f"{kind} needs credentials for its {what}: write {{{example}}}")
    if isinstance(credentials, str):
        if len(needed) > 1:
            raise ValueError(f"{kind} needs several secrets: write credentials: {{{example}}}")
        return
    unknown = sorted(set(credentials) - set(needed) - set(optional))
    if unknown:
        known = ", ".join((*needed, *optional))
        raise ValueError(f"unknown credential {', '.join(unknown)} ({kind} has: {known})")
    missing = [role for role in needed if role not in credentials]
    if missing:
        raise ValueError(f"credentials needs {', '.join(missing)} too (e.g. {example})")


TimeZoneName = Annotated[str, AfterValidator(_check_timezone)]
Locale = Annotated[str, AfterValidator(_check_locale)]
Slug = Annotated[str, AfterValidator(_check_slug)]
CredentialRef = Annotated[str, AfterValidator(_check_credentials)]


def _check_credential_refs(value: Any) -> str | dict[str, str]:
    """One variable name, or a mapping of each secret's role to its variable's name."""
    if isinstance(value, str):
        return _check_credentials(value)
    if isinstance(value, dict) and all(isinstance(role, str) for role in value):
        names = {}
        for role, name in value.items():
            if not isinstance(name, str):
                raise ValueError(f"credentials.{role} must name an environment variable")
            names[role] = _check_credentials(name)
        return names
    raise ValueError(
        "credentials must name an environment variable (e.g. MASTODON_TOKEN), or map each "
        "secret to one (e.g. {password: BLUESKY_APP_PASSWORD})"
    )


_ENV_NAME_SCHEMA = {"type": "string", "pattern": "^[A-Z][A-Z0-9_]*$"}
CredentialRefs = Annotated[
    str | dict[str, str],
    PlainValidator(_check_credential_refs),
    WithJsonSchema(
        {
            "anyOf": [
                _ENV_NAME_SCHEMA,
                {"type": "object", "additionalProperties": _ENV_NAME_SCHEMA},
            ],
            "description": "environment variable name(s), never the secret itself",
        }
    ),
]
GraphVersion = Annotated[str, AfterValidator(_check_graph_version)]
LocalDateTime = Annotated[str, AfterValidator(_check_local_datetime)]
RRule = Annotated[str, AfterValidator(_check_rrule)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QuietHours(Model):
    """A daily local period when nothing is posted, e.g. 22:00-08:00 (may cross midnight)."""

    start: time
    end: time

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        if isinstance(value, str):
            match = _QUIET_HOURS.match(value.strip())
            if not match:
                raise ValueError(f"'{value}' is not a period 'HH:MM-HH:MM' (e.g. 22:00-08:00)")
            h1, m1, h2, m2 = (int(g) for g in match.groups())
            if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
                raise ValueError(f"'{value}' is not a period 'HH:MM-HH:MM' (e.g. 22:00-08:00)")
            return {"start": time(h1, m1), "end": time(h2, m2)}
        return value

    def contains(self, moment: time) -> bool:
        if self.start <= self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


class RateLimit(Model):
    """At most `requests` publish calls per `per_seconds`, shared by every worker."""

    requests: int = Field(gt=0)
    per_seconds: int = Field(gt=0)


class Utm(Model):
    """UTM parameters added to links; unset parts are derived from the post (platform, audience)."""

    source: str | None = None
    medium: str = "social"
    campaign: str | None = None


class Audience(Model):
    description: str = ""
    locales: list[Locale] = Field(min_length=1)
    timezone: TimeZoneName | None = None
    quiet_hours: QuietHours | None = None
    channels: list[str] = Field(min_length=1)


class Channel(Model):
    platform: Platform
    account: str | None = None
    api_url: HttpUrl | None = None
    # The NAME of the environment variable that holds the secret, or one name per role for
    # platforms that need several ({password: ..., identifier: ...}; campaign.platforms).
    credentials: CredentialRefs | None = None
    locales: list[Locale] | None = None
    max_length: int | None = Field(default=None, gt=0)
    visibility: Literal["public", "unlisted", "private", "direct"] = "public"
    rate_limit: RateLimit | None = None
    directory: str | None = None
    # Telegram (docs/platforms.md): the text is plain text; `html` sends it escaped as HTML.
    parse_mode: Literal["text", "html"] | None = None
    link_preview: bool | None = None  # false: no preview card for the first link
    silent: bool | None = None  # true: subscribers get no sound with the notification
    # Facebook: the Graph API version, e.g. v26.0 (default: workers.platforms.facebook's).
    api_version: GraphVersion | None = None

    @field_validator("max_length")
    @classmethod
    def _limit_is_configurable(cls, value: int | None, info: ValidationInfo) -> int | None:
        platform = info.data.get("platform")
        if value is not None and platform not in PLATFORMS_WITH_CONFIGURABLE_LIMIT:
            raise ValueError(
                f"max_length cannot be set for {platform}: its limit is fixed by the platform"
            )
        return value

    @model_validator(mode="after")
    def _platform_specific(self) -> Channel:
        facts = platforms.PLATFORMS[self.platform]
        if facts.needs_api_url and self.api_url is None:
            raise ValueError(f"a {self.platform} channel needs api_url (the server to post to)")
        chosen = {key for key in _PLATFORM_KEYS if getattr(self, key) is not None}
        for key in sorted(chosen - facts.keys):
            owners = " and ".join(p.display for p in platforms.PLATFORMS.values() if key in p.keys)
            raise ValueError(
                f"{key} does not apply to a {self.platform} channel (it is a {owners} "
                "setting): remove it"
            )
        _check_account(self.platform, self.account)
        _check_secrets(facts, self.credentials)
        return self

    def credential_names(self) -> dict[str, str]:
        """The environment variable of each secret the channel names, by role."""
        if self.credentials is None:
            return {}
        if isinstance(self.credentials, str):
            return {platforms.PLATFORMS[self.platform].secrets[0]: self.credentials}
        return dict(self.credentials)

    def resolved_api_url(self) -> str | None:
        if self.api_url is not None:
            return str(self.api_url).rstrip("/")
        return platforms.PLATFORMS[self.platform].api_url


class ScheduleEntry(Model):
    """One local date-time (`at`), a recurrence (`rrule`), both in each audience's local time,
    or a moment after the campaign's launch (`after`, an ISO 8601 duration such as PT30S)."""

    at: LocalDateTime | None = None
    rrule: RRule | None = None
    after: timedelta | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ScheduleEntry:
        if sum(value is not None for value in (self.at, self.rrule, self.after)) != 1:
            raise ValueError("a schedule entry needs exactly one of 'at', 'rrule' or 'after'")
        if self.after is not None and self.after < timedelta(0):
            raise ValueError(f"after must not be negative, got {self.after}")
        return self


class Message(Model):
    template: str
    audiences: list[str] | None = None
    vars: dict[str, Any] = Field(default_factory=dict)
    link: HttpUrl | None = None
    hashtags: list[str] = Field(default_factory=list)
    schedule: list[ScheduleEntry] = Field(min_length=1)


class Campaign(Model):
    campaign: Slug
    title: str
    timezone: TimeZoneName
    start: date
    end: date
    templates: str | None = None
    fallback_locale: Locale | None = None
    max_lateness: timedelta = timedelta(hours=1)
    utm: Utm = Utm()
    audiences: dict[Slug, Audience] = Field(min_length=1)
    channels: dict[Slug, Channel] = Field(min_length=1)
    messages: dict[Slug, Message] = Field(min_length=1)

    @field_validator("end")
    @classmethod
    def _window(cls, end: date, info: ValidationInfo) -> date:
        start = info.data.get("start")
        if start is not None and end < start:
            raise ValueError(f"the campaign ends ({end}) before it starts ({start})")
        return end

    def audience_timezone(self, audience: str) -> str:
        return self.audiences[audience].timezone or self.timezone
