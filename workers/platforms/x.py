"""X: `POST /2/tweets` with an OAuth 2.0 user token kept fresh from a rotating refresh token.

tokens      the environment holds the account's first refresh token (scope offline.access)
            and the app's client id (and secret, for a confidential client). `POST
            /2/oauth2/token grant_type=refresh_token` answers an access token (about 2 h)
            and a new refresh token; the old one is then dead. The pair lives in the store,
            sealed, shared by every worker, renewed by one at a time and stored before it is
            used (workers/platforms/credentials.py). Once the store holds a newer token the
            environment's is spent and never sent again; a different value in the
            environment (the operator reconnected the account) starts a new chain.
publish     {"text": ...} -> 201 {"data": {"id", "text"}}
resend      X refuses the same text from the same account as duplicate content (403), so a
            resend after an unknown outcome cannot post twice: the refusal means the first
            try is out (AlreadyPublished; find() then looks for it among the account's
            recent posts). X does not say how long it remembers a text, so resends stay
            within one hour, where it reliably does.
errors      problem JSON {"title", "detail", "type", "status"}: duplicate content ->
            AlreadyPublished; too long -> PermanentPublishError; 401 after a renewal and
            other 403 -> AuthRejected ("reconnect the account"); 402 no credits ->
            PermanentPublishError; 429 -> RateLimited at x-rate-limit-reset (epoch seconds;
            X sends no Retry-After), or at the 24-hour limits' reset when those ran out
post URL    https://x.com/<account>/status/<id>
"""

from __future__ import annotations

import base64
import html
import json
import logging
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, NoReturn
from urllib.parse import quote, urlencode, urlsplit

import requests

from campaign.errors import (
    AlreadyPublished,
    AuthRejected,
    OutcomeUnknown,
    PermanentPublishError,
    PublishError,
    RateLimited,
    TransientPublishError,
)
from workers.platforms.auth import HttpRequest, RefreshingAuth
from workers.platforms.base import ClientContext, Outgoing, Published, Resend
from workers.platforms.credentials import SharedCredential, Tokens
from workers.platforms.http import HttpClient, excerpt, json_object
from workers.platforms.retry_signals import retry_at_from

log = logging.getLogger(__name__)

_JSON = {"Content-Type": "application/json; charset=utf-8", "Accept": "application/json"}
_ACCEPT = {"Accept": "application/json"}
_SCOPES = "tweet.read tweet.write users.read offline.access"
_LIMITS = ("x-rate-limit", "x-user-limit-24hour", "x-app-limit-24hour")
_LOOK_BACK = timedelta(minutes=5)  # find(): posts from this long before the scheduled time


class XAuth(RefreshingAuth):
    """The account's OAuth 2.0 tokens, shared by every worker through the store."""

    def __init__(self, client: XClient, shared: SharedCredential) -> None:
        super().__init__(shared, client.context.clock)
        self._client = client

    def sign(self, request: HttpRequest, tokens: Tokens) -> HttpRequest:
        return request.with_header("Authorization", f"Bearer {tokens['access_token']}")

    def expired(self, response: requests.Response) -> bool:
        return response.status_code == 401

    def obtain(self, current: Tokens | None) -> Tokens:
        return self._client.refresh(current)


class XClient(HttpClient):
    """Publishes posts to one X account through the API v2."""

    platform: ClassVar[str] = "x"
    resend: ClassVar[Resend] = Resend.REFUSED_AS_DUPLICATE
    resend_window: ClassVar[timedelta | None] = timedelta(hours=1)

    def __init__(self, context: ClientContext) -> None:
        super().__init__(context)
        channel = context.channel
        self._base = channel.resolved_api_url() or "https://api.x.com"
        self._host = urlsplit(self._base).netloc
        self._client_id = context.secret("client_id")
        self._client_secret = context.secrets.get("client_secret") or None
        self._first_refresh = context.secret("refresh_token")
        self._handle = (channel.account or "").strip().removeprefix("@")
        names = channel.credential_names()
        self._refresh_name = names.get("refresh_token", "the refresh token variable")
        shared = SharedCredential(
            context.credentials,
            f"x:{self._host}:{self._client_id}:{self._handle.lower() or '-'}",
            self._first_refresh,
            platform=self.platform,
            lease_seconds=context.timeouts.connect + context.timeouts.read + 5,
            clock=context.clock,
            stale_environment=(
                f"x: {self._refresh_name} on this worker holds a refresh token that was "
                "replaced when the account was reconnected: set the current value in its "
                "environment"
            ),
        )
        self.session = XAuth(self, shared)
        self.auth = self.session
        self._user_id: str | None = None

    # -- the interface -------------------------------------------------------------------

    def publish(self, post: Outgoing) -> Published:
        if post.maybe_sent:
            # Look first: X's refusal of a duplicate is the second net, not the only one.
            found = self.find(post)
            if found is not None:
                log.info("x: post %s was already out as %s", post.post_id, found.remote_id)
                return found
        what = self._what("/2/tweets")
        body = json.dumps({"text": post.text}, ensure_ascii=False).encode("utf-8")
        response = self._exchange(HttpRequest("POST", self._url("/2/tweets"), body, _JSON, what))
        data = self._json(response, what).get("data")
        tweet_id = data.get("id") if isinstance(data, dict) else None
        if not isinstance(tweet_id, str) or not tweet_id:
            raise OutcomeUnknown(
                f"x: {what} answered HTTP {response.status_code} without the post's id; the "
                "post was probably published"
            )
        log.debug("x: post %s published as %s", post.post_id, tweet_id)
        return Published(tweet_id, self._post_url(tweet_id))

    def find(self, post: Outgoing) -> Published | None:
        """The account's post with this text since shortly before its scheduled time."""
        user = self._user_id or self._me()["id"]
        start = (post.scheduled_at - _LOOK_BACK).astimezone(UTC)
        query = urlencode(
            {
                "max_results": 100,
                "start_time": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "exclude": "retweets,replies",
                "tweet.fields": "created_at,entities",
            }
        )
        path = f"/2/users/{quote(str(user), safe='')}/tweets"
        request = HttpRequest("GET", f"{self._url(path)}?{query}", None, _ACCEPT, self._what(path))
        tweets = self._read_json(request).get("data")
        wanted = _comparable(post.text)
        for tweet in tweets if isinstance(tweets, list) else []:
            if isinstance(tweet, dict) and _shown_text(tweet) == wanted:
                return Published(str(tweet["id"]), self._post_url(str(tweet["id"])))
        return None

    def check(self) -> str:
        me = self._me()
        said = f"signed in as @{me.get('username')} (id {me.get('id')})"
        username = str(me.get("username") or "")
        if self._handle and username.lower() != self._handle.lower():
            said += f", not as the channel's account {self.channel.account}"
        return said

    # -- tokens (called under the shared credential's lease) ---------------------------------

    def refresh(self, current: Tokens | None) -> Tokens:
        """New tokens from the refresh token in the store, or (None) from the environment's.

        Raises:
            PublishError: AuthRejected when X refuses the refresh token or the client; others
                when it cannot be asked.
        """
        spent = str(current["refresh_token"]) if current else self._first_refresh
        what = self._what("/2/oauth2/token")
        form = {"grant_type": "refresh_token", "refresh_token": spent, "client_id": self._client_id}
        headers = {"Content-Type": "application/x-www-form-urlencoded", **_ACCEPT}
        if self._client_secret:  # a confidential client authenticates itself (RFC 6749 2.3.1)
            pair = f"{quote(self._client_id, safe='')}:{quote(self._client_secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        request = HttpRequest(
            "POST", self._url("/2/oauth2/token"), urlencode(form).encode(), headers, what
        )
        response = self._send(request)
        if not response.ok:
            self._refuse(response, what, spent)
        answer = json_object(response)
        access = answer.get("access_token")
        if not isinstance(access, str) or not access:
            raise TransientPublishError(f"x: {what} answered without an access token")
        expires_in = answer.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else 7200.0
        rotated = answer.get("refresh_token")
        log.info("x: renewed the access token of %s", self._handle or self._client_id)
        return {
            "access_token": access,
            # Without a new refresh token (RFC 6749 6) the one just used stays valid.
            "refresh_token": rotated if isinstance(rotated, str) and rotated else spent,
            "expires": self.context.clock() + lifetime,
            "scope": str(answer.get("scope") or ""),
        }

    def _refuse(self, response: requests.Response, what: str, spent: str) -> NoReturn:
        """Raise what a refused token request means."""
        answer = json_object(response)
        error = str(answer.get("error") or "")
        said = _masked(f"{error}: {answer.get('error_description') or ''}".strip(": "), spent)
        said = excerpt(self._redact(said)) or f"HTTP {response.status_code}"
        if error in ("unauthorized_client", "invalid_client"):
            raise AuthRejected(
                f"x: {what} refused the app ({said}): check the client id, and the client "
                "secret if the app is confidential, in the channel's credentials"
            )
        if response.status_code in (400, 401) and error:
            raise AuthRejected(f"x: {what} refused the refresh token ({said}): {self._reconnect()}")
        self._raise_for_status(response, what)

    # -- the platform's errors -------------------------------------------------------------

    def _platform_error(self, response: requests.Response, what: str) -> PublishError | None:
        status = response.status_code
        problem = json_object(response)
        said = excerpt(self._redact(_problem_text(problem))) or f"HTTP {status}"
        if status == 429:
            retry_at = rate_limit_reset(response.headers)
            when = f"; retry after {retry_at:%Y-%m-%d %H:%M:%S} UTC" if retry_at else ""
            return RateLimited(f"x: rate limited ({said}){when}", retry_at=retry_at)
        lowered = said.lower()
        if status == 403 and "duplicate content" in lowered:
            return AlreadyPublished(
                f"x: X already has a post of this account with this text ({said})"
            )
        if status in (400, 403) and "too long" in lowered:
            return PermanentPublishError(
                f"x: {what} refused the text as too long ({said}); X counts 280 weighted "
                "characters (links 23; CJK, emoji and some symbols 2): shorten the template"
            )
        if status == 401:
            return AuthRejected(
                f"x: {what} refused the access token even after renewing it ({said}): "
                f"{self._reconnect()}"
            )
        if status == 403:
            return AuthRejected(
                f"x: {what} refused ({said}): check that the app has Read and write permission "
                f"and belongs to a project, then {self._reconnect()}"
            )
        if status == 402:
            return PermanentPublishError(
                f"x: {what} refused ({said}): the developer account has no credits left; add "
                "credits in the X developer console"
            )
        if 400 <= status < 500 and problem:
            return PermanentPublishError(f"x: {what} rejected the post (HTTP {status}: {said})")
        return None

    # -- helpers ---------------------------------------------------------------------------

    def _me(self) -> dict[str, Any]:
        what = self._what("/2/users/me")
        request = HttpRequest("GET", self._url("/2/users/me"), None, _ACCEPT, what)
        data = self._read_json(request).get("data")
        if not isinstance(data, dict) or not data.get("id"):
            raise TransientPublishError(f"x: {what} answered without the account")
        self._user_id = str(data["id"])
        return data

    def _reconnect(self) -> str:
        return (
            f"reconnect the account: run the OAuth 2.0 flow again (scopes {_SCOPES}) and set "
            f"the new refresh token in {self._refresh_name}"
        )

    def _post_url(self, tweet_id: str) -> str:
        who = self._handle or "i/web"
        return f"https://x.com/{who}/status/{tweet_id}"

    def _url(self, path: str) -> str:
        return f"{self._base}{path}"

    def _what(self, path: str) -> str:
        return f"{self._host}{path}"


def rate_limit_reset(headers: Mapping[str, str]) -> datetime | None:
    """When X lets the account post again: the reset of each limit that ran out (the 15-minute
    window, the 24-hour user and app limits), the latest wins; epoch seconds, as X sends them."""
    lowered = {key.lower(): value.strip() for key, value in headers.items()}
    resets = []
    for prefix in _LIMITS:
        reset = lowered.get(f"{prefix}-reset", "")
        if reset.isdigit() and lowered.get(f"{prefix}-remaining", "0") == "0":
            resets.append(datetime.fromtimestamp(int(reset), UTC))
    if not resets:
        return retry_at_from(headers)
    return max(max(resets), datetime.now(UTC))


def _problem_text(problem: Mapping[str, Any]) -> str:
    """A problem JSON body (or a v1-style `errors` list) as one line."""
    parts = [problem.get("title"), problem.get("detail")]
    errors = problem.get("errors")
    if isinstance(errors, list):
        parts += [e.get("message") for e in errors if isinstance(e, dict)]
    seen: list[str] = []
    for part in parts:
        if isinstance(part, str) and part and part not in seen:
            seen.append(part)
    return ": ".join(seen)


def _shown_text(tweet: Mapping[str, Any]) -> str:
    """A post's text as it was sent: t.co links unwrapped, HTML entities decoded."""
    text = str(tweet.get("text") or "")
    entities = tweet.get("entities")
    urls = entities.get("urls") if isinstance(entities, dict) else None
    for url in urls if isinstance(urls, list) else []:
        if isinstance(url, dict) and url.get("url") and url.get("expanded_url"):
            text = text.replace(str(url["url"]), str(url["expanded_url"]))
    return _comparable(html.unescape(text))


def _comparable(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip()


def _masked(text: str, *secrets: str) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text
