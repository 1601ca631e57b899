"""Mastodon: `POST /api/v1/statuses` with an Idempotency-Key, so a resend within an hour is safe.

The server keeps each `Idempotency-Key` per account for one hour and answers a repeat with the
original status. The key is the post id, so retries of an unknown outcome must stay inside that
hour; past it, a resend can create a second status.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import ClassVar
from urllib.parse import urlsplit

from campaign.errors import ConfigurationError, OutcomeUnknown, PermanentPublishError
from campaign.locales import language_of
from workers.platforms.auth import BearerToken, HttpRequest
from workers.platforms.base import ClientContext, Outgoing, Published, Resend
from workers.platforms.http import HttpClient

log = logging.getLogger(__name__)


class MastodonClient(HttpClient):
    """Publishes statuses to one Mastodon account with its access token."""

    platform: ClassVar[str] = "mastodon"
    resend: ClassVar[Resend] = Resend.BY_KEY
    resend_window: ClassVar[timedelta | None] = timedelta(hours=1)  # the server keeps keys 1 h

    def __init__(self, context: ClientContext) -> None:
        super().__init__(context)
        self.auth = BearerToken(context.secret("token"))
        channel = context.channel
        base = channel.resolved_api_url()
        if base is None:
            raise ConfigurationError("a mastodon channel needs api_url (the server to post to)")
        self._url = f"{base}/api/v1/statuses"
        parts = urlsplit(self._url)
        self._what = f"{parts.netloc}{parts.path}"

    def publish(self, post: Outgoing) -> Published:
        body = {
            "status": post.text,
            "visibility": self.channel.visibility,
            "language": language_of(post.locale),
        }
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Accept": "application/json",
            "Idempotency-Key": post.post_id,
        }
        encoded = json.dumps(body, ensure_ascii=False).encode("utf-8")
        response = self._post(self._url, body=encoded, headers=headers, what=self._what)
        status = self._json(response, self._what)
        remote_id = status.get("id")
        if not isinstance(remote_id, str | int) or remote_id == "":
            raise OutcomeUnknown(
                f"mastodon: {self._what} answered HTTP {response.status_code} without a status "
                "id; the post was probably published"
            )
        url = status.get("url")
        published = Published(str(remote_id), url if isinstance(url, str) and url else None)
        log.debug("mastodon: post %s published as %s", post.post_id, published.remote_id)
        return published

    def check(self) -> str:
        """GET /api/v1/accounts/verify_credentials: which account the token posts as."""
        url = self._url.removesuffix("/statuses") + "/accounts/verify_credentials"
        parts = urlsplit(url)
        what = f"{parts.netloc}{parts.path}"
        response = self._exchange(HttpRequest("GET", url, headers={"Accept": "application/json"},
                                              what=what))  # fmt: skip
        try:
            account = response.json()
        except ValueError:
            account = None
        if not isinstance(account, dict) or not account.get("username"):
            raise PermanentPublishError(
                f"mastodon: {what} did not answer like Mastodon (HTTP {response.status_code}): "
                "check api_url"
            )
        return f"posts as @{account['username']} on {parts.netloc}"
