"""The platform clients of one worker process: one per channel, built once and kept while the
channel's stored settings and its secrets stay the same.

A claim names the version of its channel's stored settings (`Claim.channel_version`), and the
environment (`workers.secrets.Environment`) hands back the same mapping until `.env` changes, so
a post whose channel is unchanged costs no store read and no secret lookup: the store is read
only when a campaign is applied with other channel settings, or the secrets change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from campaign.definition import Channel
from campaign.errors import ConfigurationError
from workers.platforms.base import ClientContext, ClientFactory, PlatformClient, Timeouts
from workers.secrets import secrets_for
from workers.store import Claim, Store


@dataclass
class _Kept:
    channel: Channel
    secrets: dict[str, str]
    client: PlatformClient
    version: str  # the claim's channel_version it was last checked against
    environ: Mapping[str, str]  # the environment mapping it was last checked against


class Clients:
    """Clients by (campaign, channel), for one process."""

    def __init__(
        self,
        store: Store,
        environ: Callable[[], Mapping[str, str]],
        factory: ClientFactory,
        timeouts: Timeouts,
        clock: Callable[[], float],
    ) -> None:
        self._store = store
        self._environ = environ
        self._factory = factory
        self._timeouts = timeouts
        self._clock = clock
        self._kept: dict[tuple[str, str], _Kept] = {}

    def for_claim(self, claim: Claim) -> PlatformClient:
        """The client of the claimed post's channel.

        Raises:
            ConfigurationError: the channel is not stored, or its secrets are not set.
        """
        key = (claim.campaign, claim.channel)
        environ = self._environ()
        kept = self._kept.get(key)
        if (
            kept is not None
            and claim.channel_version
            and kept.version == claim.channel_version
            and kept.environ is environ
        ):
            return kept.client
        route = self._store.route(claim.campaign, claim.channel)
        if route is None:
            raise ConfigurationError(
                f"campaign {claim.campaign!r} has no stored channel {claim.channel!r}"
            )
        channel = route.settings
        secrets = secrets_for(channel, environ)
        if kept is not None and kept.channel == channel and kept.secrets == secrets:
            kept.version, kept.environ = claim.channel_version, environ
            return kept.client
        if kept is not None:
            kept.client.close()
        context = ClientContext(
            channel=channel,
            secrets=secrets,
            credentials=self._store,
            timeouts=self._timeouts,
            clock=self._clock,
        )
        client = self._factory(context)
        self._kept[key] = _Kept(channel, secrets, client, claim.channel_version, environ)
        return client

    def close(self) -> None:
        """Close every client."""
        for kept in self._kept.values():
            kept.client.close()
        self._kept.clear()
