"""The HTTP error mapping every client that speaks HTTP shares.

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

import logging
import ssl
from collections.abc import Mapping
from http.client import RemoteDisconnected
from importlib.metadata import PackageNotFoundError, version
from typing import Any, NoReturn

import requests
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ReadTimeoutError,
)

from campaign.definition import Channel
from campaign.errors import (
    AuthRejected,
    OutcomeUnknown,
    PermanentPublishError,
    RateLimited,
    TransientPublishError,
)
from workers.platforms.base import DEFAULT_TIMEOUTS, PlatformClient, Timeouts
from workers.platforms.retry_signals import retry_at_from

log = logging.getLogger(__name__)

try:
    _VERSION = version("campaign-scheduler")
except PackageNotFoundError:  # running from a source checkout that is not installed
    _VERSION = "dev"
USER_AGENT = f"campaign-scheduler/{_VERSION} (social media campaign scheduler; python-requests)"

# How much of a non-JSON error body goes into a message.
_BODY_EXCERPT = 200


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
