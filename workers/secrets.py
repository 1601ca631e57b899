"""The secrets a channel needs, from the environment and `.env`, checked before any request.

Campaign files name environment variables (`credentials: MASTODON_TOKEN`), never secrets. A
worker resolves them when it builds a channel's client; a secret that could not be sent as it
is (a trailing newline, non-ASCII characters) is a configuration error then, not a request that
fails halfway.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from dotenv import dotenv_values

from campaign.definition import Channel
from campaign.errors import ConfigurationError
from workers.logging import redact


class Environment:
    """The process environment over a `.env` file, read again only when the file changes."""

    def __init__(self, path: Path | str | None = ".env") -> None:
        self._path = Path(path) if path is not None else None
        self._stamp: tuple[int, int] | None = None
        self._values: dict[str, str] = dict(os.environ)

    def __call__(self) -> Mapping[str, str]:
        try:
            status = self._path.stat() if self._path is not None else None
        except OSError:
            status = None
        stamp = (status.st_mtime_ns, status.st_size) if status is not None else None
        if stamp != self._stamp:
            self._stamp = stamp
            found = dotenv_values(self._path) if stamp and self._path else {}
            self._values = {**{k: v for k, v in found.items() if v is not None}, **os.environ}
        return self._values


def secrets_for(channel: Channel, environ: Mapping[str, str]) -> dict[str, str]:
    """The channel's secrets by role, from `environ`; each is masked in every log from now on.

    Raises:
        ConfigurationError: one is unset, or could not be sent as it is.
    """
    secrets = {}
    for role, name in channel.credential_names().items():
        secret = environ.get(name)
        if not secret:
            raise ConfigurationError(
                f"the environment variable {name} (the channel's {role.replace('_', ' ')}) "
                "is not set in the environment or .env"
            )
        redact(secret)
        if secret != secret.strip():
            raise ConfigurationError(
                f"{name} starts or ends with whitespace (a trailing newline?): remove it"
            )
        if not secret.isprintable() or not secret.isascii():
            raise ConfigurationError(
                f"{name} holds characters a secret cannot have (non-ASCII or control "
                "characters): copy it again"
            )
        secrets[role] = secret
    return secrets
