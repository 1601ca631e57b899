"""Applying a plan change to Redis without holding it: small changes in one script, large ones in
chunks, staged, committed, then rolled forward. See docs/store.md, "Applying a big plan".

    begin         lua/apply_begin.lua   hold the campaign (nothing of it is handed out, claimed,
                                        cancelled or restored) until the hold expires, renewed
                                        by every step
    stage(n)      lua/apply_stage.lua   check chunk n's preconditions and keep it under P stage:
    commit        lua/apply_commit.lua  the campaign's settings; from here the change happens
    roll_forward  lua/apply_roll.lua    write the next chunk; the last releases the campaign

Every step is one script touching one chunk (workers/store/staging.py: at most 1,000 posts and
about 512 KB of text),
so Redis serves everybody else between steps. If the applier dies before its commit, its hold
expires and the next scheduler pass (or apply) drops the staging; after its commit, the next
scheduler pass rolls it forward.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from campaign.errors import StoreError, StoreTimeout
from workers.store.records import ChannelRoute, Conflict, PlanChange
from workers.store.redis_rows import SEP
from workers.store.staging import HOLD, chunks, version_of

if TYPE_CHECKING:
    from workers.store.redis import RedisStore


def settings_of(change: PlanChange) -> dict[str, Any]:
    """The campaign's own settings as the scripts write them (rows.lua, write_settings)."""
    return {
        "title": change.title,
        "late": f"{change.max_lateness:g}",
        "launched": f"{change.launched_at:.3f}",
        "zones": json.dumps(change.zones),
        "channels": {
            name: route.settings.model_dump_json(exclude_none=True)
            for name, route in change.channels.items()
        },
        "routes": {name: route_value(route) for name, route in change.channels.items()},
    }


def route_value(route: ChannelRoute) -> str:
    """platform SEP bucket SEP capacity SEP per seconds SEP version of the channel's settings."""
    settings = route.settings.model_dump_json(exclude_none=True)
    return SEP.join(
        (
            route.settings.platform,
            route.bucket or "",
            str(route.capacity),
            f"{route.per_seconds:g}",
            version_of(settings),
        )
    )


def encoded(chunk: dict[str, Any]) -> str:
    # cjson decodes [] as an empty table, which is what the scripts iterate.
    return json.dumps(chunk, ensure_ascii=False, separators=(",", ":"))


@dataclass
class RedisStagedApply:
    """One apply of a change larger than a chunk, in steps (workers.store.StagedApply)."""

    store: RedisStore
    change: PlanChange
    now: float
    parts: Sequence[str] = field(default_factory=list)
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])

    def __post_init__(self) -> None:
        self.parts = [encoded(chunk) for chunk in chunks(self.change, self.store.chunk)]
        self._started = time.monotonic()

    @property
    def chunks(self) -> int:
        return len(self.parts)

    def _clock(self) -> float:
        # The steps after the first run later than `now`; the hold counts in the applier's time.
        return self.now + (time.monotonic() - self._started)

    def begin(self) -> None:
        self._started = time.monotonic()
        campaign = self.change.campaign
        while True:
            now = self._clock()
            answer = self.store.run_script(
                "apply_begin", "applying a plan", campaign, self.id, now, now + HOLD, self.chunks
            )
            if answer[0] == "ok":
                return
            if answer[0] == "committed":
                # An apply whose applier died after its commit: it happens first.
                while not self.store.roll_forward(campaign, now):
                    now = self._clock()
                continue
            raise StoreError(
                f"campaign {campaign!r} is being applied, cancelled or restored by another "
                "process (its hold ends within a minute if that process died); try again when "
                "it is done"
            )

    def stage(self, number: int) -> Conflict | None:
        now = self._clock()
        answer = self._idempotent(
            "apply_stage", self.change.campaign, self.id, now, now + HOLD, number,
            self.parts[number],
        )  # fmt: skip
        if answer[0] == "conflict":
            return Conflict(answer[1], answer[2])
        if answer[0] == "lost":
            return Conflict("", "applying")
        return None

    def commit(self) -> Conflict | None:
        now = self._clock()
        answer = self._idempotent(
            "apply_commit", self.change.campaign, self.id, now, now + HOLD,
            json.dumps(settings_of(self.change)), self.change.reason,
        )  # fmt: skip
        return Conflict("", "applying") if answer[0] == "lost" else None

    def roll_forward(self) -> bool:
        return self.store.roll_forward(self.change.campaign, self._clock())

    def _idempotent(self, name: str, *args: Any) -> Any:
        """A step whose repeat recognises its own earlier success, sent once more after a
        timeout."""
        try:
            return self.store.run_script(name, "applying a plan", *args)
        except StoreTimeout:
            return self.store.run_script(name, "applying a plan", *args)
