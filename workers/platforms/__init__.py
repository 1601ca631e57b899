"""Platform clients: one module per platform, each registering itself with `client_for`."""

from workers.platforms.base import Outgoing, PlatformClient, Published, Timeouts, client_for
from workers.platforms.http import HttpClient
from workers.platforms.retry_signals import retry_at_from

__all__ = [
    "HttpClient",
    "Outgoing",
    "PlatformClient",
    "Published",
    "Timeouts",
    "client_for",
    "retry_at_from",
]
