"""How requests to a platform account are authenticated, as small flows (httpx's `Auth.auth_flow`).

A flow is a generator: it yields a signed request, receives the response, and may yield once
more, e.g. after refreshing an expired token. `HttpClient._exchange` drives it.

    BearerToken     `Authorization: Bearer <token>` (Mastodon, Facebook Page tokens)
    NoAuth          nothing to add (the token travels elsewhere, e.g. in Telegram's URL path)
    RefreshingAuth  tokens that expire, shared by every worker through the store's versioned
                    credentials: on expiry one worker renews them (single flight, see
                    credentials.py) and the request is sent once more (Bluesky sessions,
                    X's OAuth 2.0 tokens)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Generator
from dataclasses import dataclass, field, replace

import requests

from campaign.errors import OutcomeUnknown, TransientPublishError
from workers.platforms.credentials import Held, SharedCredential, Tokens

Flow = Generator["HttpRequest", requests.Response, None]

RENEW_EARLY = 60.0  # seconds before their expiry when shared tokens are renewed


@dataclass(frozen=True)
class HttpRequest:
    """One request as a client means it, before authentication."""

    method: str
    # Left out of repr: a URL may hold a secret (Telegram), a body a password (Bluesky's
    # sign-in), headers the signature.
    url: str = field(repr=False)
    body: bytes | None = field(default=None, repr=False)
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    what: str = ""  # the endpoint as messages name it (never a URL that holds a secret)

    def with_header(self, name: str, value: str) -> HttpRequest:
        return replace(self, headers={**self.headers, name: value})


class Auth:
    """Adds nothing; subclasses sign requests."""

    def auth_flow(self, request: HttpRequest) -> Flow:
        yield request


NoAuth = Auth


class BearerToken(Auth):
    """A long-lived token in the Authorization header."""

    def __init__(self, token: str) -> None:
        self._token = token

    def auth_flow(self, request: HttpRequest) -> Flow:
        yield request.with_header("Authorization", f"Bearer {self._token}")

    def __repr__(self) -> str:
        return "BearerToken([redacted])"


class RefreshingAuth(Auth, ABC):
    """Tokens that expire, shared by every worker through the store and renewed by one of them.

    Subclasses say how tokens sign a request, how an answer says they expired, and how the
    platform gives new ones. `SharedCredential` (workers/platforms/credentials.py) keeps them:
    on expiry one worker renews under a lease while the others wait for its tokens, so a
    rotating refresh token is spent once and never overwritten by a stale one. A request that
    met an expired token is sent once more, with the renewed tokens.
    """

    def __init__(self, shared: SharedCredential, clock: Callable[[], float]) -> None:
        self.shared = shared
        self.clock = clock

    @abstractmethod
    def sign(self, request: HttpRequest, tokens: Tokens) -> HttpRequest:
        """`request` carrying `tokens`."""

    @abstractmethod
    def expired(self, response: requests.Response) -> bool:
        """Whether the answer says the tokens have expired (and renewed ones may work)."""

    @abstractmethod
    def obtain(self, current: Tokens | None) -> Tokens:
        """New tokens from the platform: a refresh of `current`, or a first sign-in (None).

        Raises:
            PublishError: the platform refused (AuthRejected) or could not be asked.
        """

    def expiring(self, tokens: Tokens) -> bool:
        """Whether `tokens` expire within a minute (their `expires`, epoch seconds, when the
        platform said), so that they are renewed before use rather than refused."""
        expires = tokens.get("expires")
        return isinstance(expires, int | float) and expires - RENEW_EARLY <= self.clock()

    def tokens(self) -> Held:
        """The shared tokens, signed in or renewed first when needed.

        Raises:
            PublishError: signing in or renewing failed.
        """
        held = self.shared.current(self._obtain)
        if self.expiring(held.tokens):
            held = self.shared.renew(held, self._obtain)
        return held

    def auth_flow(self, request: HttpRequest) -> Flow:
        held = self.tokens()
        response = yield self.sign(request, held.tokens)
        if self.expired(response):
            held = self.shared.renew(held, self._obtain)
            yield self.sign(request, held.tokens)

    def _obtain(self, current: Tokens | None) -> Tokens:
        try:
            return self.obtain(current)
        except OutcomeUnknown as exc:
            # Only a sign-in was sent, never the post: say so, and let it be retried.
            raise TransientPublishError(nothing_posted(str(exc), "signing in")) from None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.shared.account!r})"


def nothing_posted(message: str, doing: str) -> str:
    """An unknown-outcome message about a request that could not have published a post (it
    was `doing` something else), for a TransientPublishError."""
    for clause in ("; the post may have been published", " and may have published the post first"):
        message = message.replace(clause, "")
    return f"{message}; nothing was posted ({doing})"
