"""Rate limits per channel account: a token bucket in the store that every worker shares.

Platform defaults follow each platform's documented limit for posting; a channel's `rate_limit`
overrides them. Platforms without a limit (webhook, outbox) are not throttled. The bucket is
named at apply time (it travels with the channel's route), and the claim takes a token from it
in the same atomic step that claims the post.
"""

from __future__ import annotations

import hashlib

from campaign.definition import Channel, RateLimit
from campaign.platforms import PLATFORMS
from workers.store import ChannelRoute

# requests per seconds, per account: each platform's documented limit (campaign.platforms)
DEFAULTS: dict[str, RateLimit] = {
    name: RateLimit(requests=facts.rate_limit.requests, per_seconds=facts.rate_limit.per_seconds)
    for name, facts in PLATFORMS.items()
    if facts.rate_limit is not None
}


def limit_for(channel: Channel) -> RateLimit | None:
    """The channel's own limit, else its platform's default, else None (unlimited)."""
    return channel.rate_limit or DEFAULTS.get(channel.platform)


def account_key(channel: Channel) -> str:
    """One bucket per account: platform, server and the credentials that identify the account."""
    who = channel.credentials or channel.account or channel.directory or ""
    raw = f"{channel.platform}|{channel.resolved_api_url() or ''}|{who}"
    return f"{channel.platform}:{hashlib.sha256(raw.encode()).hexdigest()[:16]}"


def route_for(channel: Channel) -> ChannelRoute:
    """The channel with the bucket of its account, as the store keeps it for the claim."""
    limit = limit_for(channel)
    if limit is None:
        return ChannelRoute(channel)
    return ChannelRoute(channel, account_key(channel), limit.requests, float(limit.per_seconds))
