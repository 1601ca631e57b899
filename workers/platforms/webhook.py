"""Webhook: a signed JSON POST of the rendered post to a receiver the campaign owner runs.

Each request carries `X-Campaign-Timestamp: <unix seconds>` and `X-Campaign-Signature:
sha256=<hex>`, the HMAC-SHA256 with the channel's key of `<timestamp>.` followed by the raw body.
Signing the timestamp lets a receiver refuse replays: check the signature, then that the
timestamp is recent (five minutes is usual).

Not idempotent: the request carries `Idempotency-Key: <post id>`, but nothing obliges a receiver
to honour it, so a resend may deliver the post twice. A 5xx answer is therefore an unknown
outcome (the receiver may have acted before failing), except 503, which says it did not.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from typing import Any, ClassVar
from urllib.parse import urlsplit

from campaign.errors import ConfigurationError
from campaign.post import utc_iso
from workers.platforms.base import ClientContext, Outgoing, Published, Resend
from workers.platforms.http import HttpClient

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Campaign-Signature"
TIMESTAMP_HEADER = "X-Campaign-Timestamp"


def sign(timestamp: str, body: bytes, secret: str) -> str:
    """The signature header's value: `sha256=` and the hex HMAC-SHA256 of `<timestamp>.<body>`."""
    signed = timestamp.encode("ascii") + b"." + body
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def payload(post: Outgoing) -> dict[str, Any]:
    """The JSON document a receiver gets for one post."""
    return {
        "post_id": post.post_id,
        "campaign": post.campaign,
        "channel": post.channel_name,
        "locale": post.locale,
        "text": post.text,
        "scheduled_at": utc_iso(post.scheduled_at),
    }


class WebhookClient(HttpClient):
    """Delivers posts to one webhook URL, signed with the channel's HMAC key."""

    platform: ClassVar[str] = "webhook"
    resend: ClassVar[Resend] = Resend.UNSAFE

    def __init__(self, context: ClientContext) -> None:
        super().__init__(context)
        self._key = context.secret("key")
        channel = context.channel
        if channel.api_url is None:
            raise ConfigurationError("a webhook channel needs api_url (the receiver's URL)")
        self._url = str(channel.api_url)
        parts = urlsplit(self._url)
        # Only host and path: a receiver URL may carry a token in its query string.
        self._what = f"{parts.netloc}{parts.path}"

    def publish(self, post: Outgoing) -> Published:
        body = json.dumps(payload(post), ensure_ascii=False, separators=(",", ":")).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            SIGNATURE_HEADER: sign(timestamp, body, self._key),
            TIMESTAMP_HEADER: timestamp,
            "Idempotency-Key": post.post_id,
        }
        response = self._post(self._url, body=body, headers=headers, what=self._what)
        remote_id, url = post.post_id, None
        try:
            answer = response.json()
        except ValueError:
            answer = None  # an empty or plain-text 2xx is a plain acknowledgement
        if isinstance(answer, dict):
            if isinstance(answer.get("id"), str | int) and answer["id"] != "":
                remote_id = str(answer["id"])
            if isinstance(answer.get("url"), str) and answer["url"]:
                url = answer["url"]
        log.debug("webhook: post %s delivered as %s", post.post_id, remote_id)
        return Published(remote_id, url)
