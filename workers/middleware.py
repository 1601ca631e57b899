"""Publish middleware: hooks around the platform call, as in dramatiq's middleware.

`before_publish` hooks run in order right before the request, `after_publish` hooks in reverse
order right after the platform answered and before the ledger records it. Both default to no-ops.
Settings name middleware by dotted path (`package.module:Name`); a class is instantiated.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from campaign.errors import ConfigurationError
from workers.platforms.base import Outgoing, Published


class Middleware:
    """Subclass and override the hooks you need."""

    def before_publish(self, post: Outgoing) -> None:
        """Called right before the platform request for `post`."""

    def after_publish(self, post: Outgoing, published: Published) -> None:
        """Called after the platform accepted `post`, before the ledger records it."""


def load(paths: Sequence[str]) -> list[Middleware]:
    """Import each `package.module:Name`; classes are instantiated.

    Raises:
        ConfigurationError: a path cannot be imported or does not name a Middleware.
    """
    loaded = []
    for path in paths:
        module_name, _, attr = path.partition(":")
        try:
            found = getattr(importlib.import_module(module_name), attr or "middleware")
        except (ImportError, AttributeError) as exc:
            raise ConfigurationError(f"cannot load middleware {path!r}: {exc}") from exc
        instance = found() if isinstance(found, type) else found
        if not isinstance(instance, Middleware):
            raise ConfigurationError(f"middleware {path!r} is not a workers.middleware.Middleware")
        loaded.append(instance)
    return loaded
