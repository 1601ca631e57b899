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
        ConfigurationError: some are unset (all of them named), or one could not be sent as
            it is.
    """
    names = channel.credential_names()
    unset = [
        f"{name} (the channel's {role.replace('_', ' ')})"
        for role, name in names.items()
        if not environ.get(name)
    ]
    if len(unset) == 1:
        raise ConfigurationError(
            f"the environment variable {unset[0]} is not set in the environment or .env"
        )
    if unset:  # every one at once: setting one only to be told of the next wastes a round
        raise ConfigurationError(
            f"the environment variables {', '.join(unset[:-1])} and {unset[-1]} are not set "
            "in the environment or .env"
        )
    secrets = {}
    for role, name in names.items():
        secret = environ[name]
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
