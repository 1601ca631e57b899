"""The campaign file, as typed models: what a campaign manager may write, and nothing else.

Every model forbids unknown keys, so a typo is an error rather than a silently ignored setting.
Cross-references (audience -> channel, message -> audience) are checked in `campaign.validate`,
where the source lines are at hand.
"""

from __future__ import annotations

import re
from datetime import date, time, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    HttpUrl,
    PlainValidator,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from campaign import platforms
from campaign.fields import (
    QUIET_HOURS,
    CalendarDate,
    Clock,
    Duration,
    LocalDateTime,
    Locale,
    RRule,
    Slug,
    TemplateFolder,
    TimeZoneName,
    check_credentials,
)
from campaign.terminal import quoted

Platform = Literal["mastodon", "bluesky", "telegram", "facebook", "x", "webhook", "outbox"]
PLATFORMS: tuple[str, ...] = platforms.NAMES
# Platforms whose server decides the limit per instance or per receiver, so a channel may set
# max_length (campaign.rules counts with it).
PLATFORMS_WITH_CONFIGURABLE_LIMIT: frozenset[str] = frozenset(
    name for name, facts in platforms.PLATFORMS.items() if facts.limit_is_configurable
)

# Ten years: a longer window is a typo in `end`, and every recurrence is searched through it.
MAX_WINDOW_DAYS = 3653

_GRAPH_VERSION = re.compile(r"v[0-9]+\.[0-9]+")
# A public Telegram chat's @username (5-32 letters, digits, _) or a numeric chat id.
_TELEGRAM_CHAT = re.compile(r"@[A-Za-z][A-Za-z0-9_]{3,31}|-?[0-9]+")
# A Facebook Page's numeric id, or its username (letters, digits and dots).
_FACEBOOK_PAGE = re.compile(r"[0-9]+|[A-Za-z0-9.]+")
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


def _check_graph_version(value: str) -> str:
    if not _GRAPH_VERSION.fullmatch(value):
        raise ValueError(f"{quoted(value)} is not a Graph API version: write it as v26.0")
    return value


def _check_account(platform: str, account: str | None) -> None:
    """The account names what the platform's API addresses (a Telegram chat, a Facebook Page)."""
    rule = _ACCOUNTS.get(platform)
    if rule is None:
        return
    pattern, kind, what = rule
    if account is None:
        raise ValueError(f"a {platform} channel needs account: {what}")
    if not pattern.fullmatch(account):
        raise ValueError(f"account {quoted(account)} is not a {kind}: write {what}")


def _check_credential_refs(value: Any) -> str | dict[str, str]:
    """One variable name, or a mapping of each secret's role to its variable's name."""
    if isinstance(value, str):
        return check_credentials(value)
    if isinstance(value, dict) and all(isinstance(role, str) for role in value):
        names = {}
        for role, name in value.items():
            if not isinstance(name, str):
                raise ValueError(f"credentials.{role} must name an environment variable")
            names[role] = check_credentials(name)
        return names
    raise ValueError(
        "credentials must name an environment variable (e.g. MASTODON_TOKEN), or map each "
        "secret to one (e.g. {password: BLUESKY_APP_PASSWORD})"
    )


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


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QuietHours(Model):
    """A daily local period when nothing is posted, e.g. 22:00-08:00 (may cross midnight)."""

    start: Clock
    end: Clock

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        if isinstance(value, str):
            match = re.fullmatch(QUIET_HOURS, value.strip())
            if not match:
                raise ValueError(
                    f"{quoted(value)} is not a period 'HH:MM-HH:MM' (e.g. 22:00-08:00)"
                )
            h1, m1, h2, m2 = (int(g) for g in match.groups())
            return {"start": time(h1, m1), "end": time(h2, m2)}
        if isinstance(value, int | float | list | tuple):
            shown = repr(value) if len(repr(value)) <= 40 else f"a {type(value).__name__}"
            raise ValueError(
                f'{shown} is not a period: write it as "HH:MM-HH:MM" in quotes (e.g. "22:00-08:00")'
            )
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError(
                f"{self} starts and ends at the same time, which is no period at all: write "
                "the quiet night, e.g. 22:00-08:00, or remove quiet_hours"
            )
        return self

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        # Campaign files write the short form; the mapping form is accepted too.
        mapping = handler(core_schema)
        period = {"type": "string", "pattern": f"^{QUIET_HOURS}$", "examples": ["22:00-08:00"]}
        return {"anyOf": [period, mapping]}

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


Text = Annotated[str, StringConstraints(max_length=200)]


class Utm(Model):
    """UTM parameters added to links; unset parts are derived from the post (platform, audience)."""

    source: Text | None = None
    medium: Text = "social"
    campaign: Text | None = None


class Audience(Model):
    description: Annotated[str, StringConstraints(max_length=2000)] = ""
    locales: list[Locale] = Field(min_length=1)
    timezone: TimeZoneName | None = None
    quiet_hours: QuietHours | None = None
    channels: list[str] = Field(min_length=1)

    @field_validator("locales", "channels")
    @classmethod
    def _once_each(cls, values: list[str]) -> list[str]:
        return _listed_once(values)


class Channel(Model):
    platform: Platform
    account: Text | None = None
    api_url: HttpUrl | None = None
    # The NAME of the environment variable that holds the secret, or one name per role for
    # platforms that need several ({password: ..., identifier: ...}; campaign.platforms).
    credentials: CredentialRefs | None = None
    locales: list[Locale] | None = None
    max_length: int | None = Field(default=None, gt=0)
    visibility: Literal["public", "unlisted", "private", "direct"] = "public"
    rate_limit: RateLimit | None = None
    directory: Annotated[str, StringConstraints(max_length=1000)] | None = None
    # Telegram (docs/platforms.md): the text is plain text; `html` sends it escaped as HTML.
    parse_mode: Literal["text", "html"] | None = None
    link_preview: bool | None = None  # false: no preview card for the first link
    silent: bool | None = None  # true: subscribers get no sound with the notification
    # Facebook: the Graph API version, e.g. v26.0 (default: workers.platforms.facebook's).
    api_version: GraphVersion | None = None

    @field_validator("api_url")
    @classmethod
    def _no_secrets_in_url(cls, url: HttpUrl | None) -> HttpUrl | None:
        if url is None:
            return url
        if url.username is not None or url.password is not None:
            # Never echo the URL: it holds the password.
            raise ValueError(
                f"api_url holds a user name and password ({url.scheme}://user:***@{url.host}): "
                "credentials belong in the environment; name the variable in credentials"
            )
        secret_keys = [
            key
            for key, _ in parse_qsl(url.query or "", keep_blank_values=True)
            if re.search(r"token|secret|key|password|auth", key, re.IGNORECASE)
        ]
        if secret_keys:
            raise ValueError(
                f"api_url carries a secret in its query ({secret_keys[0]}=***): credentials "
                "belong in the environment; name the variable in credentials"
            )
        return url

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
    after: Duration | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ScheduleEntry:
        if sum(value is not None for value in (self.at, self.rrule, self.after)) != 1:
            raise ValueError("a schedule entry needs exactly one of 'at', 'rrule' or 'after'")
        return self


class Message(Model):
    template: TemplateFolder
    audiences: list[str] | None = None
    vars: dict[str, Any] = Field(default_factory=dict)
    link: HttpUrl | None = None
    hashtags: list[Annotated[str, StringConstraints(max_length=200)]] = Field(default_factory=list)
    schedule: list[ScheduleEntry] = Field(min_length=1)

    @field_validator("audiences")
    @classmethod
    def _names_some(cls, values: list[str] | None) -> list[str] | None:
        if values is not None and not values:
            raise ValueError(
                "audiences: [] names no audience: remove the key to send to every audience, "
                "or list the audiences"
            )
        return None if values is None else _listed_once(values)


class Campaign(Model):
    campaign: Slug
    title: Annotated[str, StringConstraints(max_length=300)]
    timezone: TimeZoneName
    start: CalendarDate
    end: CalendarDate
    templates: Annotated[str, StringConstraints(max_length=1000)] | None = None
    fallback_locale: Locale | None = None
    max_lateness: Duration = timedelta(hours=1)
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
        if start is not None and (end - start).days > MAX_WINDOW_DAYS:
            raise ValueError(
                f"the campaign runs from {start} to {end}, more than ten years: check the year "
                "of end"
            )
        return end

    def audience_timezone(self, audience: str) -> str:
        return self.audiences[audience].timezone or self.timezone


def _listed_once(values: list[str]) -> list[str]:
    repeated = sorted({value for value in values if values.count(value) > 1})
    if repeated:
        raise ValueError(f"{quoted(repeated[0])} is listed twice: list each once")
    return values
