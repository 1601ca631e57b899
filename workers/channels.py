"""Checking that a campaign's channels can post, without posting: `campaign channels check`.

Each channel gets its secrets the way a worker does (the environment over `.env`), its client,
and one harmless authenticated call set (`PlatformClient.check`). Channels are checked at the
same time, each on its own; a channel that fails never stops the others.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from campaign.definition import Channel
from campaign.errors import CampaignError
from workers.platforms.base import (
    DEFAULT_TIMEOUTS,
    ClientContext,
    CredentialStore,
    PlatformClient,
    Timeouts,
    client_for,
)
from workers.secrets import secrets_for
from workers.store import Store
from workers.store.records import Versioned

OK = "ok"
FAILED = "failed"
UNCHECKED = "unchecked"  # the secrets are set, but the platform has no harmless call
_AT_ONCE = 8


@dataclass(frozen=True)
class ChannelCheck:
    """What checking one channel found."""

    channel: str
    platform: str
    account: str | None
    status: str  # OK, FAILED or UNCHECKED
    detail: str  # what the channel is, or exactly what is wrong

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class SharedCredentials:
    """The store's shared credentials, opened on first use: a refresh made by a check must
    reach the workers (and a rotated refresh token must not be lost), but Telegram and Facebook
    never need the store, so they are checked even when it cannot be opened."""

    def __init__(self, opener: Callable[[], Store]) -> None:
        self._opener = opener
        self._store: Store | None = None
        self._lock = threading.Lock()

    def _opened(self) -> Store:
        with self._lock:
            if self._store is None:
                self._store = self._opener()
            return self._store

    def credential(self, account: str) -> Versioned | None:
        return self._opened().credential(account)

    def swap_credential(self, account: str, expected_version: int | None, value: str) -> bool:
        return self._opened().swap_credential(account, expected_version, value)

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None


def check_channel(
    name: str,
    channel: Channel,
    environ: Mapping[str, str],
    credentials: CredentialStore,
    timeouts: Timeouts = DEFAULT_TIMEOUTS,
) -> ChannelCheck:
    """Check one channel; every problem becomes a FAILED result, never an exception."""
    try:
        secrets = secrets_for(channel, environ)
        with client_for(ClientContext(channel, secrets, credentials, timeouts)) as client:
            if type(client).check is PlatformClient.check:
                detail = (
                    f"{'secrets set; ' if secrets else ''}{channel.platform} has no call that "
                    "checks an account without posting: nothing was sent"
                )
                return ChannelCheck(name, channel.platform, channel.account, UNCHECKED, detail)
            detail = client.check()
    except CampaignError as exc:
        return ChannelCheck(name, channel.platform, channel.account, FAILED, str(exc))
    return ChannelCheck(name, channel.platform, channel.account, OK, detail)


def check_channels(
    channels: Mapping[str, Channel],
    environ: Mapping[str, str],
    credentials: CredentialStore,
    timeouts: Timeouts = DEFAULT_TIMEOUTS,
) -> list[ChannelCheck]:
    """Check every channel, several at once; results in the channels' order."""
    if not channels:
        return []
    with ThreadPoolExecutor(max_workers=min(_AT_ONCE, len(channels))) as pool:
        futures = [
            pool.submit(check_channel, name, channel, environ, credentials, timeouts)
            for name, channel in channels.items()
        ]
        return [future.result() for future in futures]
