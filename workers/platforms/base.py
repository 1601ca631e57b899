"""The platform client interface and the registry of clients.

A client turns one `Outgoing` post into one `Published` result, or raises one of the
`PublishError` subclasses from `campaign.errors`; nothing else leaves it, and no message carries
its secret. Adding a platform is adding one module, `workers/platforms/<platform>.py`, whose
client class names its `platform`: it registers itself by subclassing.
"""

from __future__ import annotations

import importlib
import pkgutil
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, ClassVar, Self

from campaign.definition import PLATFORMS, Channel
from campaign.errors import ConfigurationError
from workers.store.records import ResendRule

REDACTED = "[redacted]"


@dataclass(frozen=True)
class Outgoing:
    """What a client needs to publish one post."""

    post_id: str  # deterministic; the idempotency key
    campaign: str
    channel_name: str
    text: str  # exactly the previewed text; sent unchanged
    locale: str  # e.g. "ky", "sr-Latn"; platforms get the two-letter language
    scheduled_at: datetime  # UTC

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

_REGISTRY: dict[str, type[PlatformClient]] = {}


class PlatformClient(ABC):
    """Publishes posts to one channel. Use as a context manager, or call `close()`."""

    platform: ClassVar[str]
    # True when resending the same post_id can never create a second post.
    idempotent: ClassVar[bool]
    # How long after the first try that holds; None when it holds for ever. A resend of an
    # unknown outcome later than this may duplicate the post.
    idempotent_for: ClassVar[timedelta | None] = None

    def __init__(
        self, channel: Channel, secret: str | None, *, timeouts: Timeouts = DEFAULT_TIMEOUTS
    ) -> None:
        if channel.platform != self.platform:
            raise ConfigurationError(
                f"{type(self).__name__} publishes to {self.platform}, "
                f"not to a {channel.platform} channel"
            )
        self.channel = channel
        self.timeouts = timeouts
        self._secret = secret or None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        platform = cls.__dict__.get("platform")
        if isinstance(platform, str):
            _REGISTRY[platform] = cls

    @abstractmethod
    def publish(self, post: Outgoing) -> Published:
        """Publish one post and say where it lives.

        Raises:
            PublishError: one of its subclasses, never anything else.
        """

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
        """`text` with the secret replaced, for anything that may reach a message or a log."""
        if self._secret:
            text = text.replace(self._secret, REDACTED)
        return text

    def _require_secret(self, what: str) -> str:
        if self._secret is None:
            name = self.channel.credentials or "the credentials variable"
            raise ConfigurationError(
                f"a {self.platform} channel needs {what}: set {name} in the environment or .env"
            )
        return self._secret


def _load(platform: str) -> None:
    """Import the platform's client module, which registers its client (if it exists yet)."""
    if platform in _REGISTRY or platform not in PLATFORMS:
        return
    try:
        importlib.import_module(f"{__package__}.{platform}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__package__}.{platform}":
            raise


def client_for(
    channel: Channel, secret: str | None, *, timeouts: Timeouts = DEFAULT_TIMEOUTS
) -> PlatformClient:
    """A client for `channel`, chosen by its platform.

    Raises:
        ConfigurationError: no client exists for the platform, or the secret is missing.
    """
    platform = channel.platform
    _load(platform)
    cls = _REGISTRY.get(platform)
    if cls is None:
        raise ConfigurationError(
            f"no client for platform {platform!r} in this version "
            f"(available: {', '.join(available_platforms())})"
        )
    return cls(channel, secret, timeouts=timeouts)


def resend_policy(*, margin: float, cap: float | None = None) -> dict[str, ResendRule]:
    """How each platform with a client may resend an attempt that may have reached it.

    A client's window (how long its platform keeps an idempotency key) ends `margin` seconds
    early, and never later than `cap`; a client that is not idempotent is never resent.
    """
    for known in PLATFORMS:
        _load(known)
    policy: dict[str, ResendRule] = {}
    for platform, cls in _REGISTRY.items():
        if not cls.idempotent:
            continue
        window = None if cls.idempotent_for is None else cls.idempotent_for.total_seconds()
        if cap is not None:
            window = cap if window is None else min(window, cap)
        policy[platform] = ResendRule(True, None if window is None else max(0.0, window - margin))
    return policy


def available_platforms() -> list[str]:
    """Platforms that have a client module in this package."""
    package = importlib.import_module(__package__ or "workers.platforms")
    names = {info.name for info in pkgutil.iter_modules(package.__path__)}
    return sorted(name for name in PLATFORMS if name in names)
