"""Facebook Pages: `POST /v<NN>.0/{page-id}/feed` with the Page access token.

Only `message` is sent. The template's text already carries the link (with its UTM tags), and
Facebook builds the preview card from the first link in the message; sending `link` as well
would attach a card for a URL the reader may not see in the text, and the preview would no
longer show what was posted.

The token travels in `Authorization: Bearer` (as Meta's own Graph API examples send it), never as
an `access_token` parameter in a URL, which urllib3 and proxies log.

`account` is the Page: its numeric id, or its username, which is looked up once per client
(`GET /{username}`) because the Pages API addresses pages by id. The Graph API version is the
channel's `api_version`, else `DEFAULT_API_VERSION`.

Resending: the Graph API has no idempotency key. It refuses a post identical to the page's
latest one (error 506, "Duplicate status message"), but only consecutively: once anything else
was posted (the page's post in another language, say), the same text goes through again. So a
post whose earlier attempt may be out is first looked for among the page's posts since its
scheduled time (`find`), and sent again only when it is not there; a 506 is AlreadyPublished and
the publisher reconciles with `find`. Both are best effort rather than a guarantee such as an
idempotency key, so resending stops one hour after the first attempt (`resend_window`): enough
for the retries of a lost answer, which come within minutes; past it, a person checks the page.

    error 190 (102): token expired or invalid  -> AuthRejected: reconnect the page
    10, 200-299: permission missing            -> AuthRejected: the Page token and its scopes
    4, 17, 32, 613, 80001: throttled           -> RateLimited, at the time the
                                                  X-Business-Use-Case-Usage header names, else
                                                  after THROTTLE_PAUSE
    506: duplicate post                        -> AlreadyPublished
    100 with subcode 33: no such page          -> PermanentPublishError: account must be the page
    368: blocked for a policy violation        -> TransientPublishError, an hour later
    1, 2: temporary                            -> OutcomeUnknown (a read: TransientPublishError)
    other error bodies                         -> PermanentPublishError with Facebook's words
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlencode, urlsplit

import requests

from campaign.errors import (
    AlreadyPublished,
    AuthRejected,
    ConfigurationError,
    OutcomeUnknown,
    PermanentPublishError,
    PublishError,
    RateLimited,
    TransientPublishError,
)
from workers.platforms.auth import BearerToken, HttpRequest
from workers.platforms.base import ClientContext, Outgoing, Published, Resend
from workers.platforms.http import HttpClient, credential_names, excerpt

log = logging.getLogger(__name__)

DEFAULT_API_VERSION = "v26.0"
# How long to wait when Facebook throttles without saying for how long. Calls made while
# throttled count against the page too, so trying again every few seconds prolongs it.
THROTTLE_PAUSE = timedelta(minutes=5)
POLICY_PAUSE = timedelta(hours=1)
# `find` looks at posts created from this long before the scheduled time (clock skew), so an
# identical post of an earlier occurrence of a recurring message is never taken for this one.
FIND_MARGIN = timedelta(minutes=5)
FIND_LIMIT = 100  # the most the Graph API returns in one page of results

_EXPIRED = frozenset({190, 102})
_THROTTLED = frozenset({4, 17, 32, 613, 80001})
_WHY_REFUSED = {
    458: "the app was removed from the account that made it",
    460: "the password of the account that made it changed",
    463: "it expired",
    464: "the account that made it is not confirmed",
    467: "it is no longer valid",
    492: "the account that made it no longer manages the page",
}
_FORM = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}


def post_url(remote_id: str) -> str | None:
    """https://www.facebook.com/{page}/posts/{post} from the Graph API's `{page}_{post}` id."""
    page, separator, post = remote_id.partition("_")
    if not separator or not page or not post:
        return None
    return f"https://www.facebook.com/{page}/posts/{post}"


class FacebookClient(HttpClient):
    """Publishes posts on one Facebook Page with its Page access token."""

    platform: ClassVar[str] = "facebook"
    resend: ClassVar[Resend] = Resend.REFUSED_AS_DUPLICATE
    resend_window: ClassVar[timedelta | None] = timedelta(hours=1)

    def __init__(self, context: ClientContext) -> None:
        super().__init__(context)
        self.auth = BearerToken(context.secret("token"))
        channel = context.channel
        if channel.account is None:
            raise ConfigurationError("a facebook channel needs account: the page's id")
        self.account = channel.account
        self.version = channel.api_version or DEFAULT_API_VERSION
        base = channel.resolved_api_url() or "https://graph.facebook.com"
        self._graph = f"{base}/{self.version}"
        parts = urlsplit(self._graph)
        self._shown = f"{parts.netloc}{parts.path}"
        self._page_id: str | None = self.account if self.account.isdigit() else None

    def publish(self, post: Outgoing) -> Published:
        if post.maybe_sent:
            found = self.find(post)
            if found is not None:
                log.info("facebook: post %s was already on the page as %s", post.post_id,
                         found.remote_id)  # fmt: skip
                return found
        page = self._page()
        what = f"{self._shown}/{page}/feed"
        body = urlencode({"message": post.text}).encode("ascii")
        response = self._post(f"{self._graph}/{page}/feed", body=body, headers=_FORM, what=what)
        remote_id = self._json(response, what).get("id")
        if not isinstance(remote_id, str) or not remote_id:
            raise OutcomeUnknown(
                f"facebook: {what} answered HTTP {response.status_code} without a post id; the "
                "post was probably published"
            )
        log.debug("facebook: post %s published as %s", post.post_id, remote_id)
        return Published(remote_id, post_url(remote_id))

    def find(self, post: Outgoing) -> Published | None:
        """The page's post with this exact text, created since the post's scheduled time."""
        since = post.scheduled_at - FIND_MARGIN
        answer = self._get(
            f"{self._page()}/posts",
            {
                "fields": "id,message,created_time",
                "since": str(int(since.timestamp())),
                "limit": str(FIND_LIMIT),
            },
        )
        found = answer.get("data")
        wanted = post.text.strip()
        matches = [
            item["id"]
            for item in (found if isinstance(found, list) else [])
            if isinstance(item, dict)
            and isinstance(item.get("id"), str)
            and isinstance(item.get("message"), str)
            and item["message"].strip() == wanted
        ]
        if not matches:
            return None
        first = matches[-1]  # newest first: the last match is the first post
        return Published(first, post_url(first))

    def check(self) -> str:
        """Which page the token acts as, and that it is the channel's page."""
        me = self._get("me", {"fields": "id,name"})
        acting, name = str(me.get("id")), me.get("name")
        names = credential_names(self.channel)
        page_id = self._page_id or str(self._get(self.account, {"fields": "id,name"}).get("id"))
        if acting != page_id:
            raise AuthRejected(
                f"facebook: the token in {names} acts as '{name}' (id {acting}), not as page "
                f"{self.account} (id {page_id}): set {names} to a Page access token of page "
                f"{page_id}, made by one of its admins, with pages_manage_posts and "
                "pages_read_engagement"
            )
        self._page_id = page_id
        if self.account.isdigit():
            return f"page '{name}' (id {page_id})"
        return (
            f"page '{name}' (id {page_id}); account {self.account} is its username: write "
            f'account: "{page_id}", the id the Graph API addresses it by'
        )

    def _page(self) -> str:
        """The page's numeric id: the account, or what its username resolves to (once)."""
        if self._page_id is None:
            found = self._get(self.account, {"fields": "id"}).get("id")
            if not isinstance(found, str) or not found.isdigit():
                raise PermanentPublishError(
                    f"facebook: {self.account} is not a page the Graph API knows: write the "
                    "page's numeric id as account (Page > About > Page transparency)"
                )
            self._page_id = found
        return self._page_id

    def _get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        what = f"{self._shown}/{path}"
        url = f"{self._graph}/{path}?{urlencode(params)}"
        response = self._exchange(HttpRequest("GET", url, what=what))
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise PermanentPublishError(
                f"facebook: {what} did not answer like the Graph API (HTTP "
                f"{response.status_code}): check api_url"
            )
        return answer

    def _platform_error(self, response: requests.Response, what: str) -> PublishError | None:
        """Read `{"error": {"code", "error_subcode", "message", ...}}` first."""
        try:
            body = response.json()
        except ValueError:
            return None  # not the Graph API speaking (a proxy's page): the HTTP status decides
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict) or not isinstance(error.get("code"), int):
            return None
        code: int = error["code"]
        subcode = error.get("error_subcode")
        words = [error.get("message"), error.get("error_user_msg")]
        said = excerpt(self._redact(": ".join(str(w) for w in words if w)))
        names = credential_names(self.channel)
        if code in _EXPIRED:
            why = _WHY_REFUSED.get(subcode if isinstance(subcode, int) else 0, "it is invalid")
            return AuthRejected(
                f"facebook: the Page access token in {names} was refused: {why} ({said}); "
                f"reconnect the page: make a new Page access token with pages_manage_posts and "
                f"pages_read_engagement and set {names}"
            )
        if code in _THROTTLED:
            retry_at = self._regain_at(response.headers)
            return RateLimited(
                f"facebook: throttled ({said}); trying again at {retry_at:%H:%M:%S} UTC",
                retry_at=retry_at,
            )
        if code == 506:
            return AlreadyPublished(f"facebook: the page refused a duplicate post ({said})")
        if code == 10 or 200 <= code <= 299:
            return AuthRejected(
                f"facebook: the token in {names} may not do this on page {self.account} "
                f"({said}): it must be a Page access token of this page with "
                "pages_manage_posts and pages_read_engagement"
            )
        if code == 100 and subcode == 33:
            return PermanentPublishError(
                f"facebook: page {self.account} was not found ({said}): account must be the "
                "page's numeric id (Page > About > Page transparency) or its username"
            )
        if code == 368:
            later = datetime.fromtimestamp(self.context.clock(), UTC) + POLICY_PAUSE
            return TransientPublishError(
                f"facebook: the page may not post for now ({said}); trying again later",
                retry_at=later,
            )
        if code in (1, 2):
            if getattr(response.request, "method", None) == "GET":
                return TransientPublishError(f"facebook: {what} failed for now ({said})")
            return OutcomeUnknown(
                f"facebook: {what} failed ({said}) and may have published the post first"
            )
        if response.status_code >= 500:
            return None
        return PermanentPublishError(f"facebook: {what} refused the request ({said})")

    def _regain_at(self, headers: requests.structures.CaseInsensitiveDict[str]) -> datetime:
        """When the X-Business-Use-Case-Usage header says access comes back, else a pause."""
        minutes = 0.0
        try:
            usage = json.loads(headers.get("X-Business-Use-Case-Usage") or "{}")
        except ValueError:
            usage = {}
        for entries in usage.values() if isinstance(usage, dict) else ():
            for entry in entries if isinstance(entries, list) else ():
                value = (
                    entry.get("estimated_time_to_regain_access")
                    if isinstance(entry, dict)
                    else None
                )
                if isinstance(value, int | float) and value > minutes:
                    minutes = float(value)
        pause = timedelta(minutes=minutes) if minutes > 0 else THROTTLE_PAUSE
        return datetime.fromtimestamp(self.context.clock(), UTC) + pause
