"""How requests to a platform account are authenticated, as small flows (httpx's `Auth.auth_flow`).

A flow is a generator: it yields a signed request, receives the response, and may yield once
more, e.g. after refreshing an expired token. `HttpClient._exchange` drives it.

    BearerToken     `Authorization: Bearer <token>` (Mastodon, Facebook Page tokens)
    NoAuth          nothing to add (the token travels elsewhere, e.g. in Telegram's URL path)
    RefreshingAuth  a token that expires and is shared by every worker through the store's
                    versioned credentials: on expiry one refresh, under compare-and-swap, then
                    the request is sent again (Bluesky sessions, X's OAuth 2.0 tokens)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Generator
from dataclasses import dataclass, field, replace

import requests

from workers.platforms.base import CredentialStore

Flow = Generator["HttpRequest", requests.Response, None]


@dataclass(frozen=True)
class HttpRequest:
    """One request as a client means it, before authentication."""

    method: str
    # Left out of repr: a URL may hold a secret (Telegram), headers hold the signature.
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
    """A token shared by every worker that expires: refreshed once, under compare-and-swap.

    Subclasses say how a token signs a request, how an answer says it expired, and how a new
    token is obtained. The shared value lives in the store's credentials under `account`; a
    worker that loses the swap uses the winner's token instead of its own, so a rotated refresh
    token is never overwritten by a stale one.
    """

    def __init__(self, credentials: CredentialStore, account: str) -> None:
        self.credentials = credentials
        self.account = account

    @abstractmethod
    def sign(self, request: HttpRequest, token: str) -> HttpRequest:
        """`request` carrying `token`."""

    @abstractmethod
    def expired(self, response: requests.Response) -> bool:
        """Whether the answer says the token has expired (and a refreshed one may work)."""

    @abstractmethod
    def current(self) -> str:
        """The token to use now (creating the shared credential if there is none yet)."""

    @abstractmethod
    def refresh(self, stale: str) -> str:
        """A token newer than `stale`: refreshed by this worker, or by another one first."""

    def auth_flow(self, request: HttpRequest) -> Flow:
        token = self.current()
        response = yield self.sign(request, token)
        if self.expired(response):
            yield self.sign(request, self.refresh(token))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.account!r})"
