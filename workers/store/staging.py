"""What both backends share to apply a big plan in steps: chunks of a plan change, how long a
step holds its campaign, and the version of a channel's settings.

A chunk is JSON-able: {"add": [[id, message, audience, channel, locale, at, text]], "change":
[same], "cancel": [id]}; the Redis scripts read the same shape (lua/rows.lua).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

from workers.store.records import NewPost, PlanChange

# A step holds Redis (or the SQLite write lock) while it writes its chunk and, with appendfsync
# always, while the disk syncs it: 250 posts keep that to a few milliseconds, so that other
# campaigns stay on time during a big apply (1,000 made them 0.1 to 0.2 s late on a 2-core VM).
CHUNK = 250  # posts per chunk
CHUNK_BYTES = 128 * 1024  # and about this much text
HOLD = 60.0  # seconds a step (of an apply, a cancel, a restore) holds its campaign

Chunk = dict[str, list[Any]]


def version_of(settings: str) -> str:
    """A short digest of a channel's stored settings (JSON): a worker keeps its client for the
    channel while it stays the same."""
    return hashlib.sha256(settings.encode()).hexdigest()[:12]


def row_of(post: NewPost) -> list[Any]:
    return [
        post.id, post.message, post.audience, post.channel, post.locale, post.scheduled_at,
        post.text,
    ]  # fmt: skip


def chunks(change: PlanChange, size: int = CHUNK) -> Iterator[Chunk]:
    """The change's posts in chunks of at most `size` posts and about CHUNK_BYTES of text (at
    least one chunk, maybe empty)."""
    chunk: Chunk = {"add": [], "change": [], "cancel": []}
    count = weight = 0
    entries: list[tuple[str, Any, int]] = [
        *(("add", row_of(p), len(p.text)) for p in change.add),
        *(("change", row_of(p), len(p.text)) for p in change.change),
        *(("cancel", post_id, 0) for post_id in change.cancel),
    ]
    for kind, entry, length in entries:
        if count and (count >= size or weight + length > CHUNK_BYTES):
            yield chunk
            chunk = {"add": [], "change": [], "cancel": []}
            count = weight = 0
        chunk[kind].append(entry)
        count += 1
        weight += length + 100
    if count or not entries:
        yield chunk
