"""The platform client interface, the context a client is built from, and the registry.

A client turns one `Outgoing` post into one `Published` result, or raises one of the
`PublishError` subclasses from `campaign.errors`; nothing else leaves it, and no message carries
a secret. Adding a platform is adding one module, `workers/platforms/<platform>.py`, whose client
class names its `platform`: it registers itself by subclassing.

What a client declares about resending (`resend`, `resend_window`) is read by the publisher and
the store's claim; what it declares nowhere else decides nothing.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from types import TracebackType
from typing import Any, ClassVar, Protocol, Self

from campaign.definition import Channel
from campaign.errors import ConfigurationError
from campaign.platforms import NAMES
from workers.store.records import ResendRule, Versioned

REDACTED = "[redacted]"


class Resend(StrEnum):
    """What sending a post again does on a platform, after an attempt that may have reached it."""

    BY_KEY = "by-key"  # an idempotency key makes a repeat return the first post (Mastodon 1 h,
    # Bluesky putRecord with a fixed rkey for ever): resend inside the window
    REFUSED_AS_DUPLICATE = "duplicate"  # the platform refuses a repeat as a duplicate (Facebook
    # 506, X "duplicate content"): resend, and a refusal means the post is out
    UNSAFE = "unsafe"  # nothing stops a second post (Telegram, webhooks): never resend


@dataclass(frozen=True)
class Outgoing:
    """What a client needs to publish one post."""

    post_id: str  # deterministic; the idempotency key
    campaign: str
    channel_name: str
    text: str  # exactly the previewed text; sent unchanged
    locale: str  # e.g. "ky", "sr-Latn"; platforms get the two-letter language
    scheduled_at: datetime  # UTC
    # An earlier attempt may have reached the platform: a client that can look the post up
    # (find) does so before sending it again.
    maybe_sent: bool = False

    def __post_init__(self) -> None:
        if self.scheduled_at.tzinfo is None:
            raise ValueError("Outgoing.scheduled_at must be timezone-aware (UTC)")


@dataclass(frozen=True)
class Published:
    """Where a published post lives on its platform."""

    remote_id: str
    url: str | None


@dataclass(frozen=True)
class Timeouts:
    """Seconds to wait for a connection, and for each read once the request went out."""

    connect: float = 5.0
    read: float = 20.0


DEFAULT_TIMEOUTS = Timeouts()


class CredentialStore(Protocol):
    """The store's shared, versioned credentials (a session, a rotating refresh token)."""

    def credential(self, account: str) -> Versioned | None: ...

    def swap_credential(self, account: str, expected_version: int | None, value: str) -> bool: ...


class NoCredentialStore:
    """For clients that keep nothing shared (and for tests): holds credentials in memory,
    shared by the threads of one process (the swap is atomic, as the store's is)."""

    def __init__(self) -> None:
        self._values: dict[str, Versioned] = {}
        self._lock = threading.Lock()

    def credential(self, account: str) -> Versioned | None:
        return self._values.get(account)

    def swap_credential(self, account: str, expected_version: int | None, value: str) -> bool:
        with self._lock:
            current = self._values.get(account)
            if (current.version if current else None) != expected_version:
                return False
            self._values[account] = Versioned(value, (current.version if current else 0) + 1)
        return True


@dataclass(frozen=True)
class ClientContext:
    """Everything a client is built from: its channel, its secrets, and what workers share."""

    channel: Channel
    # The channel's secrets by role (campaign.platforms: "token", "password", ...), resolved
    # from the environment and checked before any request.
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    credentials: CredentialStore = field(default_factory=NoCredentialStore, repr=False)
    timeouts: Timeouts = DEFAULT_TIMEOUTS
    clock: Callable[[], float] = time.time

    def secret(self, role: str) -> str:
        """The secret for `role`.

        Raises:
            ConfigurationError: the channel does not name it.
        """
        value = self.secrets.get(role)
        if not value:
            name = self.channel.credential_names().get(role)
            where = (
                f"set {name} in the environment or .env"
                if name
                else "name the environment variable that holds it in the channel's credentials"
            )
            raise ConfigurationError(
                f"a {self.channel.platform} channel needs its {role.replace('_', ' ')}: {where}"
            )
        return value


_REGISTRY: dict[str, type[PlatformClient]] = {}


class PlatformClient(ABC):
    """Publishes posts to one channel; built once per channel and worker process, and reused.

    Use as a context manager, or call `close()`.
    """

    platform: ClassVar[str]
    resend: ClassVar[Resend]
    # How long after the first attempt resending stays safe (how long the platform keeps an
    # idempotency key, or detects duplicates); None: for ever.
    resend_window: ClassVar[timedelta | None] = None

    def __init__(self, context: ClientContext) -> None:
        if context.channel.platform != self.platform:
            raise ConfigurationError(
                f"{type(self).__name__} publishes to {self.platform}, "
                f"not to a {context.channel.platform} channel"
            )
        self.context = context
        self.channel = context.channel
        self.timeouts = context.timeouts

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        platform = cls.__dict__.get("platform")
        if isinstance(platform, str):
            _REGISTRY[platform] = cls

    @abstractmethod
    def publish(self, post: Outgoing) -> Published:
        """Publish one post and say where it lives.

        Raises:
            PublishError: one of its subclasses, never anything else; AlreadyPublished when the
                platform says it holds this post already.
        """

    def find(self, post: Outgoing) -> Published | None:
        """Where the platform holds `post` already, or None when it cannot tell.

        Called to reconcile after the platform refused a resend as a duplicate.

        Raises:
            PublishError: the platform could not be asked.
        """
        return None

    @classmethod
    def can_find(cls) -> bool:
        """Whether this platform's client can look a post up (it overrides `find`)."""
        return cls.find is not PlatformClient.find

    def check(self) -> str:
        """One harmless authenticated call: what the channel is, for `campaign channels check`.

        Raises:
            PublishError: the platform refused (AuthRejected says what to fix) or is unreachable.
        """
        return "no check for this platform"

    def close(self) -> None:  # noqa: B027 - a no-op unless the client holds connections
        """Release connections; the client cannot publish afterwards."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.platform} account={self.channel.account!r}>"

    def _redact(self, text: str) -> str:
        """`text` with every secret of the channel replaced, for messages and logs."""
        for secret in self.context.secrets.values():
            if secret:
                text = text.replace(secret, REDACTED)
        return text


ClientFactory = Callable[[ClientContext], PlatformClient]


def _load(platform: str) -> None:
    """Import the platform's client module, which registers its client (if it exists yet)."""
    if platform in _REGISTRY or platform not in NAMES:
        return
    try:
        importlib.import_module(f"{__package__}.{platform}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__package__}.{platform}":
            raise


def load_all() -> None:
    """Import every platform's client module now. A worker's parent process does, so that each
    pool process it forks has them: about 0.6 s of imports (the counting rules, X's and
    Mastodon's link patterns) that a new pool process otherwise paid inside its first task."""
    for name in NAMES:
        _load(name)


def client_class(platform: str) -> type[PlatformClient]:
    """The client class of a platform.

    Raises:
        ConfigurationError: no client exists for the platform.
    """
    _load(platform)
    cls = _REGISTRY.get(platform)
    if cls is None:
        raise ConfigurationError(
            f"no client for platform {platform!r} in this version "
            f"(available: {', '.join(available_platforms())})"
        )
    return cls


def client_for(context: ClientContext) -> PlatformClient:
    """A client for the context's channel, chosen by its platform.

    Raises:
        ConfigurationError: no client exists for the platform, or a setting or secret is missing.
    """
    return client_class(context.channel.platform)(context)


def resend_policy(*, margin: float, cap: float | None = None) -> dict[str, ResendRule]:
    """How each platform with a client may resend an attempt that may have reached it.

    A client's window ends `margin` seconds early (an attempt claimed inside the window may run
    for a whole lease), and never later than `cap`; an UNSAFE client is never resent.
    """
    load_all()
    policy: dict[str, ResendRule] = {}
    for platform, cls in _REGISTRY.items():
        if cls.resend is Resend.UNSAFE:
            continue
        window = None if cls.resend_window is None else cls.resend_window.total_seconds()
        if cap is not None and window is not None:
            # The cap is for servers that keep keys for less than their platform says; a key
            # that never expires (Bluesky's record key) needs none.
            window = min(window, cap)
        policy[platform] = ResendRule(True, None if window is None else max(0.0, window - margin))
    return policy


def available_platforms() -> list[str]:
    """Platforms that have a client module in this package."""
    package = importlib.import_module(__package__ or "workers.platforms")
    names = {info.name for info in pkgutil.iter_modules(package.__path__)}
    return sorted(name for name in NAMES if name in names)
