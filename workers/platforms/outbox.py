"""Outbox: each post becomes a JSON file in a directory; for demos, offline runs and tests.

Files appear atomically: the post is written to a temporary file in the same directory, then
hard-linked to `<directory>/<campaign>/<post_id>.json`. Linking fails when the name exists, so a
second publish of the same post id never writes a second post; it returns the first's result.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

from campaign.errors import PermanentPublishError, TransientPublishError
from campaign.locales import language_of
from campaign.post import utc_iso
from workers.platforms.base import ClientContext, Outgoing, PlatformClient, Published, Resend

log = logging.getLogger(__name__)

DEFAULT_DIRECTORY = "outbox"  # apply stores an absolute directory; this is for direct use
# Errors a person must fix (permissions, read-only disk); others may pass (disk full, I/O).
_PERMANENT_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR})


class OutboxClient(PlatformClient):
    """Writes posts as files under the channel's `directory` (default `outbox`)."""

    platform: ClassVar[str] = "outbox"
    # A file is linked in under the post's id: a repeat finds it and writes nothing.
    resend: ClassVar[Resend] = Resend.BY_KEY

    def __init__(self, context: ClientContext) -> None:
        super().__init__(context)
        self.directory = Path(context.channel.directory or DEFAULT_DIRECTORY)

    def path_for(self, post: Outgoing) -> Path:
        """Where `post` is (or will be) written."""
        for part in (post.campaign, post.post_id):
            if not part or part in (".", "..") or "/" in part or "\\" in part or "\0" in part:
                raise PermanentPublishError(
                    f"outbox: {part!r} cannot be used as a file name (campaign and post id must "
                    "be plain names)"
                )
        return self.directory / post.campaign / f"{post.post_id}.json"

    def publish(self, post: Outgoing) -> Published:
        target = self.path_for(post)
        document = {
            "post_id": post.post_id,
            "campaign": post.campaign,
            "channel": post.channel_name,
            "locale": post.locale,
            "language": language_of(post.locale),
            "text": post.text,
            "scheduled_at": utc_iso(post.scheduled_at),
            "written_at": utc_iso(datetime.now(UTC)),
        }
        data = (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
        try:
            created = _create_once(target, data)
        except OSError as exc:
            kind = (
                PermanentPublishError if exc.errno in _PERMANENT_ERRNOS else TransientPublishError
            )
            raise kind(f"outbox: cannot write {target} ({exc.strerror or exc})") from exc
        if not created:
            log.info("outbox: post %s was already written to %s", post.post_id, target)
        return Published(post.post_id, target.resolve().as_uri())


def _create_once(target: Path, data: bytes) -> bool:
    """Write `data` to `target` unless it exists; True when this call created it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, target)  # atomic, and refuses to replace an existing file
        except FileExistsError:
            return False
        _fsync_directory(target.parent)
        return True
    finally:
        os.unlink(temporary)


def _fsync_directory(directory: Path) -> None:
    """Make the new directory entry durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
