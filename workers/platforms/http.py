"""The HTTP error mapping every client that speaks HTTP shares.

A client turns one `Outgoing` post into one `Published` result, or raises one of the
`PublishError` subclasses from `campaign.errors`:

    the platform's own error body, read first       -> whatever `_platform_error` says
    connect failed (refused, DNS, connect timeout)  -> TransientPublishError   (never sent)
    HTTP 429                                        -> RateLimited (retry_at from headers)
    HTTP 408, 503                                   -> TransientPublishError   (not processed)
    other HTTP 5xx                                  -> OutcomeUnknown (it may have been applied
                                                       before failing; the publisher resends
                                                       only where the platform makes it safe)
    HTTP 401, 403                                   -> AuthRejected
    HTTP 3xx, 422 and other 4xx                     -> PermanentPublishError
    read timeout, connection dropped after sending  -> OutcomeUnknown (may have been applied)

A read (GET, HEAD) changes nothing, so where a write's outcome would be unknown a read's failure
is a TransientPublishError.

Requests are signed by the client's `Auth` flow (workers/platforms/auth.py). Nothing from
`requests` leaves a client, and no message carries a secret: bodies are redacted before they
are cut short.
"""

from __future__ import annotations

import logging
import os
import ssl
import urllib.request
from collections.abc import Callable, Mapping
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
    PublishError,
    RateLimited,
    TransientPublishError,
)
from workers.platforms.auth import Auth, HttpRequest
from workers.platforms.base import ClientContext, PlatformClient
from workers.platforms.retry_signals import retry_at_from

log = logging.getLogger(__name__)

try:
    _VERSION = version("campaign-scheduler")
except PackageNotFoundError:  # running from a source checkout that is not installed
    _VERSION = "dev"
USER_AGENT = f"campaign-scheduler/{_VERSION} (social media campaign scheduler; python-requests)"

# How much of a non-JSON error body goes into a message.
_BODY_EXCERPT = 200
# Requests that change nothing on the platform: their failures are never an unknown outcome.
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class HttpClient(PlatformClient):
    """A client that speaks HTTP: one session, explicit timeouts, auth flows, and the shared
    error mapping. Subclasses set `auth` and may read their platform's error bodies first."""

    def __init__(self, context: ClientContext) -> None:
        super().__init__(context)
        self.auth: Auth = Auth()
        self._session = _session()

    def close(self) -> None:
        self._session.close()

    def _post(
        self, url: str, *, body: bytes, headers: Mapping[str, str], what: str
    ) -> requests.Response:
        """POST `body` (signed by `auth`) and return a 2xx response; map every failure to a
        `PublishError`. `what` names the endpoint in messages (e.g.
        "mastodon.example/api/v1/statuses"), so a URL that carries a secret never has to
        appear in one."""
        return self._exchange(HttpRequest("POST", url, body, dict(headers), what))

    def _exchange(self, request: HttpRequest, auth: Auth | None = None) -> requests.Response:
        """Send `request` through the auth flow (the client's, unless `auth` is given); a 2xx
        response, or a `PublishError`."""
        flow = (auth or self.auth).auth_flow(request)
        signed = next(flow)
        while True:
            response = self._send(signed)
            try:
                signed = flow.send(response)
            except StopIteration:
                break
        if not 200 <= response.status_code < 300:
            self._raise_for_status(response, signed.what)
        return response

    def _send(self, request: HttpRequest) -> requests.Response:
        try:
            return self._session.request(
                request.method,
                request.url,
                data=request.body,
                headers=request.headers,
                timeout=(self.timeouts.connect, self.timeouts.read),
                allow_redirects=False,  # a redirect would turn the POST into a GET
            )
        except requests.RequestException as exc:
            failure = exc
        # Raised outside the handler, so our error has no __context__: a requests exception
        # holds the request (headers, and for Telegram a URL with the token in it), and a
        # context is printed with every traceback even when `from None` hides it.
        self._raise_for_exception(failure, request.what, safe=request.method in _SAFE_METHODS)

    def _platform_error(self, response: requests.Response, what: str) -> PublishError | None:
        """The platform's own reading of an error answer, before the generic HTTP mapping."""
        return None

    def _raise_for_exception(
        self, exc: requests.RequestException, what: str, *, safe: bool = False
    ) -> NoReturn:
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
        if safe:
            raise TransientPublishError(
                f"{self.platform}: {reason} ({what}); a read, so nothing was changed"
            ) from None
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
        specific = self._platform_error(response, what)
        if specific is not None:
            raise specific
        status = response.status_code
        reason = error_text(response, self._redact)
        said = f"HTTP {status}" + (f": {reason}" if reason else "")
        if status == 429:
            retry_at = retry_at_from(response.headers)
            when = f"; retry after {retry_at:%Y-%m-%d %H:%M:%S} UTC" if retry_at else ""
            raise RateLimited(f"{self.platform}: rate limited ({said}){when}", retry_at=retry_at)
        if status in (401, 403):
            raise AuthRejected(
                f"{self.platform}: {what} refused the credentials ({said}); check the token in "
                f"{credential_names(self.channel)} and its scopes"
            )
        if status in (408, 503):
            raise TransientPublishError(
                f"{self.platform}: {what} did not take the post ({said}); worth retrying",
                retry_at=retry_at_from(response.headers),
            )
        if status >= 500 and getattr(response.request, "method", None) in _SAFE_METHODS:
            raise TransientPublishError(
                f"{self.platform}: {what} failed ({said}); a read, so nothing was changed"
            )
        if status >= 500:
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

    def _read_json(self, request: HttpRequest) -> dict[str, Any]:
        """The JSON object a read answers; a read changes nothing, so whatever goes wrong is
        worth retrying, never an unknown outcome.

        Raises:
            PublishError: TransientPublishError for a failed exchange or an answer without a
                JSON object; AuthRejected and others as the error mapping says.
        """
        try:
            response = self._exchange(request)
        except OutcomeUnknown as exc:
            raise TransientPublishError(f"{exc}; a read, so nothing was changed") from None
        data = json_object(response)
        if not data:
            raise TransientPublishError(
                f"{self.platform}: {request.what} answered HTTP {response.status_code} without "
                "a JSON object; worth trying again"
            )
        return data

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


def _session() -> requests.Session:
    """A session that reads the environment once, here, unless a proxy is configured.

    requests merges environment settings (proxies, no_proxy, CA bundle, .netrc) into every
    request, which costs milliseconds per post when the environment is large; only proxies
    need that per-URL logic (no_proxy), so it is kept only when a proxy is set.
    """
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    if not urllib.request.getproxies():
        session.trust_env = False
        session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get(
            "CURL_CA_BUNDLE"
        ) or True  # fmt: skip
    return session


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


def error_text(response: requests.Response, redact: Callable[[str], str] = str) -> str:
    """The platform's own reason for an error: `error` (+ `error_description`) or a body
    excerpt, redacted before it is cut short (a secret across the cut would leak its start)."""
    try:
        data = response.json()
    except ValueError:
        return excerpt(redact(" ".join(response.text.split())))
    if isinstance(data, dict):
        parts = [data.get("error"), data.get("error_description"), data.get("message")]
        found = [str(p) for p in parts if isinstance(p, str) and p]
        if found:
            return excerpt(redact(": ".join(found)))
    return excerpt(redact(" ".join(str(data).split())))


def json_object(response: requests.Response) -> dict[str, Any]:
    """The JSON object a response holds, or an empty one (no JSON, or not an object)."""
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def excerpt(text: str) -> str:
    """At most `_BODY_EXCERPT` characters of `text` for a message."""
    return text[:_BODY_EXCERPT] + ("..." if len(text) > _BODY_EXCERPT else "")


def credential_names(channel: Channel) -> str:
    """The environment variables that hold a channel's secrets, for messages."""
    credentials = channel.credentials
    if credentials is None:
        return "the credentials variable"
    if isinstance(credentials, str):
        return credentials
    return ", ".join(credentials.values())
