"""The ledger's vocabulary: post states and what the store hands back when read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum


class State(StrEnum):
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNKNOWN = "unknown"
    CANCELLED = "cancelled"
    MISSED = "missed"


FINAL_STATES = frozenset({State.SENT, State.FAILED, State.UNKNOWN, State.CANCELLED, State.MISSED})


@dataclass(frozen=True)
class StoredPost:
    """One ledger entry, as read back."""

    id: str
    campaign: str
    channel: str
    locale: str
    scheduled_at: datetime
    state: State
    attempts: int
    updated_at: datetime | None
    sent_at: datetime | None
    remote_id: str | None
    url: str | None
    error: str | None


@dataclass(frozen=True)
class Claim:
    """The claim script's verdict; `text` and friends are set when the worker must publish."""

    verdict: str
    attempt: int
    campaign: str
    channel: str
    locale: str = ""
    scheduled_at: datetime | None = None
    text: str = ""

    @property
    def publish(self) -> bool:
        return self.verdict in ("claimed", "resend")


@dataclass(frozen=True)
class Moved:
    """A post the scheduler moved, and the state it is in now."""

    id: str
    state: str
    channel: str


def moment(value: str | bytes | None) -> datetime | None:
    if value is None or value == "":
        return None
    return datetime.fromtimestamp(float(value), UTC)


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def as_str(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def as_strs(row: dict[bytes | str, bytes | str]) -> dict[str, str]:
    return {as_str(k): as_str(v) for k, v in row.items()}


def stored(post_id: str, row: dict[str, str]) -> StoredPost:
    scheduled = moment(row.get("at"))
    assert scheduled is not None, f"ledger entry {post_id} has no scheduled time"
    return StoredPost(
        id=post_id,
        campaign=row.get("c", ""),
        channel=row.get("ch", ""),
        locale=row.get("loc", ""),
        scheduled_at=scheduled,
        state=State(row.get("st", "scheduled")),
        attempts=int(row.get("n", 0)),
        updated_at=moment(row.get("ts")),
        sent_at=moment(row.get("sent")),
        remote_id=row.get("rid"),
        url=row.get("url") or None,
        error=row.get("err"),
    )
