"""The platform client interface, the registry, and the HTTP error mapping every client shares.

A client turns one `Outgoing` post into one `Published` result, or raises one of the
`PublishError` subclasses from `campaign.errors`:

    connect failed (refused, DNS, connect timeout)  -> TransientPublishError   (never sent)
    HTTP 429                                        -> RateLimited (retry_at from headers)
    HTTP 5xx, 408                                   -> TransientPublishError when idempotent,
                                                       OutcomeUnknown otherwise (except 408, 503)
    HTTP 401, 403                                   -> AuthRejected
    HTTP 3xx, 422 and other 4xx                     -> PermanentPublishError
    read timeout, connection dropped after sending  -> OutcomeUnknown (may have been applied)

Nothing from `requests` leaves a client, and no message carries the client's secret.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import re
import ssl
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from http.client import RemoteDisconnected
from importlib.metadata import PackageNotFoundError, version
from types import TracebackType
from typing import Any, ClassVar, NoReturn, Self

import requests
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ReadTimeoutError,
)

from campaign.definition import PLATFORMS, Channel
from campaign.errors import (
    AuthRejected,
    ConfigurationError,
    OutcomeUnknown,
    PermanentPublishError,
    RateLimited,
    TransientPublishError,
)

log = logging.getLogger(__name__)

try:
    _VERSION = version("campaign-scheduler")
except PackageNotFoundError:  # running from a source checkout that is not installed
    _VERSION = "dev"
USER_AGENT = f"campaign-scheduler/{_VERSION} (social media campaign scheduler; python-requests)"

REDACTED = "[redacted]"
# A number above this in a reset header is an epoch time; below it, seconds from now.
_EPOCH_THRESHOLD = 1_000_000_000
# How much of a non-JSON error body goes into a message.
_BODY_EXCERPT = 200


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


class HttpClient(PlatformClient):
    """A client that speaks HTTP: one session, explicit timeouts, and the shared error mapping."""

    def __init__(
        self, channel: Channel, secret: str | None, *, timeouts: Timeouts = DEFAULT_TIMEOUTS
    ) -> None:
        super().__init__(channel, secret, timeouts=timeouts)
        self._session = requests.Session()
        self._session.headers["User-Agent"] = USER_AGENT

    def close(self) -> None:
        self._session.close()

    def _post(
        self, url: str, *, body: bytes, headers: Mapping[str, str], what: str
    ) -> requests.Response:
        """POST `body` and return a 2xx response; map every failure to a `PublishError`.

        `what` names the endpoint in messages (e.g. "mastodon.example/api/v1/statuses"), so a
        URL that carries a secret never has to appear in one.
        """
        try:
            response = self._session.post(
                url,
                data=body,
                headers=dict(headers),
                timeout=(self.timeouts.connect, self.timeouts.read),
                allow_redirects=False,  # a redirect would turn the POST into a GET
            )
        except requests.RequestException as exc:
            self._raise_for_exception(exc, what)
        if not 200 <= response.status_code < 300:
            self._raise_for_status(response, what)
        return response

    def _raise_for_exception(self, exc: requests.RequestException, what: str) -> NoReturn:
        # `from None`: a requests exception holds the request (headers, and for Telegram a URL
        # with the token in it), and a chained cause is printed with every traceback.
        if _never_sent(exc):
            raise TransientPublishError(
                f"{self.platform}: could not connect to {what} ({self._connect_failure(exc)}); "
                "nothing was sent"
            ) from None
        if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
            raise PermanentPublishError(
                f"{self.platform}: {what} is not a valid URL; check api_url in the campaign file"
            ) from None
        if isinstance(exc, requests.exceptions.ReadTimeout) or _caused_by(exc, ReadTimeoutError):
            reason = f"no answer within {self.timeouts.read:g} s"
        elif _caused_by(exc, RemoteDisconnected):
            reason = "the server closed the connection without answering"
        elif _caused_by(exc, ConnectionResetError):
            reason = "the connection was reset after the request was sent"
        else:
            reason = f"the exchange broke after the request was sent ({type(exc).__name__})"
        raise OutcomeUnknown(
            f"{self.platform}: {reason} ({what}); the post may have been published"
        ) from None

    def _connect_failure(self, exc: requests.RequestException) -> str:
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return f"no connection within {self.timeouts.connect:g} s"
        if _caused_by(exc, ssl.SSLCertVerificationError):
            return "its TLS certificate did not verify"
        if isinstance(exc, requests.exceptions.ProxyError):
            return "the proxy failed"
        if _caused_by(exc, NameResolutionError):
            return "host name not found"
        if _caused_by(exc, ConnectionRefusedError):
            return "connection refused"
        return "connection failed"

    def _raise_for_status(self, response: requests.Response, what: str) -> NoReturn:
        status = response.status_code
        reason = self._redact(error_text(response))
        said = f"HTTP {status}" + (f": {reason}" if reason else "")
        if status == 429:
            retry_at = retry_at_from(response.headers)
            when = f"; retry after {retry_at:%Y-%m-%d %H:%M:%S} UTC" if retry_at else ""
            raise RateLimited(f"{self.platform}: rate limited ({said}){when}", retry_at=retry_at)
        if status in (401, 403):
            raise AuthRejected(
                f"{self.platform}: {what} refused the credentials ({said}); check the token in "
                f"{self.channel.credentials or 'the credentials variable'} and its scopes"
            )
        if status >= 500 or status == 408:
            if self.idempotent or status in (408, 503):
                raise TransientPublishError(
                    f"{self.platform}: {what} failed ({said}); worth retrying",
                    retry_at=retry_at_from(response.headers),
                )
            raise OutcomeUnknown(
                f"{self.platform}: {what} failed ({said}) and may have published the post first"
            )
        if 300 <= status < 400:
            target = self._redact(response.headers.get("Location", "elsewhere"))
            raise PermanentPublishError(
                f"{self.platform}: {what} redirects to {target} (HTTP {status}); "
                "set api_url to the final address"
            )
        raise PermanentPublishError(f"{self.platform}: {what} rejected the post ({said})")

    def _json(self, response: requests.Response, what: str) -> dict[str, Any]:
        """The JSON object of a 2xx answer; the post was accepted, so a bad body is unknown."""
        try:
            data = response.json()
        except ValueError as exc:
            raise OutcomeUnknown(
                f"{self.platform}: {what} answered HTTP {response.status_code} without JSON; "
                "the post was probably published"
            ) from exc
        if not isinstance(data, dict):
            raise OutcomeUnknown(
                f"{self.platform}: {what} answered HTTP {response.status_code} with "
                "unexpected JSON; the post was probably published"
            )
        return data


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the request provably never left: the connection itself could not be made."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if _caused_by(exc, ssl.SSLCertVerificationError):
        return True  # the certificate is checked in the handshake, before the request is sent
    # Other TLS errors can also happen while reading the answer, so they prove nothing.
    if isinstance(exc, requests.exceptions.ConnectionError) and exc.args:
        cause = exc.args[0]
        if isinstance(cause, MaxRetryError):
            # NewConnectionError covers refused and DNS failures (NameResolutionError), also
            # when they happen on the way to a proxy.
            return _caused_by(cause.reason, (NewConnectionError, ConnectTimeoutError))
    return False


def _caused_by(
    exc: BaseException | None, kind: type[BaseException] | tuple[type[BaseException], ...]
) -> bool:
    """True when `kind` appears in `exc`'s chain: causes, contexts, wrapped args and reasons."""
    seen: set[int] = set()
    pending: list[object] = [exc]
    while pending:
        item = pending.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, kind):
            return True
        pending.extend([item.__cause__, item.__context__, *item.args])
        pending.append(getattr(item, "reason", None))
    return False


def error_text(response: requests.Response) -> str:
    """The platform's own reason for an error: `error` (+ `error_description`) or a body excerpt."""
    try:
        data = response.json()
    except ValueError:
        text = " ".join(response.text.split())
        return text[:_BODY_EXCERPT] + ("..." if len(text) > _BODY_EXCERPT else "")
    if isinstance(data, dict):
        parts = [data.get("error"), data.get("error_description"), data.get("message")]
        found = [str(p) for p in parts if isinstance(p, str) and p]
        if found:
            return ": ".join(found)
    return " ".join(str(data).split())[:_BODY_EXCERPT]


_ISO_LIKE = re.compile(r"^\d{4}-\d{2}-\d{2}T")


def retry_at_from(headers: Mapping[str, str], now: datetime | None = None) -> datetime | None:
    """When a platform says to try again, in UTC; None when it gives no usable signal.

    Reads `Retry-After` (seconds or an HTTP date), `X-RateLimit-Reset` and `RateLimit-Reset`
    (an ISO-8601 time as Mastodon sends it, epoch seconds, or seconds from now as in the IETF
    draft). With several signals, the latest wins; a time in the past becomes `now`.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    found: list[datetime] = []
    lowered = {key.lower(): value.strip() for key, value in headers.items()}
    retry_after = lowered.get("retry-after")
    if retry_after:
        found.extend(_parse_retry_after(retry_after, now))
    for name in ("x-ratelimit-reset", "ratelimit-reset"):
        value = lowered.get(name)
        if value:
            found.extend(_parse_reset(value, now))
    return max(max(found), now) if found else None


def _parse_retry_after(value: str, now: datetime) -> list[datetime]:
    if value.isdigit():
        return [now + timedelta(seconds=int(value))]
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return []
    return [_as_utc(moment)]


def _parse_reset(value: str, now: datetime) -> list[datetime]:
    if _ISO_LIKE.match(value):
        try:
            return [_as_utc(datetime.fromisoformat(value))]
        except ValueError:
            return []
    try:
        number = float(value)
    except ValueError:
        return []
    if number != number or number < 0:  # NaN or negative: no signal
        return []
    if number >= _EPOCH_THRESHOLD:
        return [datetime.fromtimestamp(number, UTC)]
    return [now + timedelta(seconds=number)]


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:  # an HTTP date or ISO time without zone is UTC by convention
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def client_for(
    channel: Channel, secret: str | None, *, timeouts: Timeouts = DEFAULT_TIMEOUTS
) -> PlatformClient:
    """A client for `channel`, chosen by its platform.

    Raises:
        ConfigurationError: no client exists for the platform, or the secret is missing.
    """
    platform = channel.platform
    if platform not in _REGISTRY and platform in PLATFORMS:
        # Each platform's client lives in workers/platforms/<platform>.py and registers itself.
        try:
            importlib.import_module(f"{__package__}.{platform}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}.{platform}":
                raise
    cls = _REGISTRY.get(platform)
    if cls is None:
        raise ConfigurationError(
            f"no client for platform {platform!r} in this version "
            f"(available: {', '.join(available_platforms())})"
        )
    return cls(channel, secret, timeouts=timeouts)


def available_platforms() -> list[str]:
    """Platforms that have a client module in this package."""
    package = importlib.import_module(__package__ or "workers.platforms")
    names = {info.name for info in pkgutil.iter_modules(package.__path__)}
    return sorted(name for name in PLATFORMS if name in names)


__all__ = [
    "DEFAULT_TIMEOUTS",
    "USER_AGENT",
    "HttpClient",
    "Outgoing",
    "PlatformClient",
    "Published",
    "Timeouts",
    "available_platforms",
    "client_for",
    "error_text",
    "retry_at_from",
]
