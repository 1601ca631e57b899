"""The store of record in Redis: the schedule, the ledger and the campaigns.

Keys (all under the configurable prefix P):

    P schedule                 sorted set  post id -> due time (epoch s); posts in `scheduled`
    P inflight                 sorted set  post id -> deadline; `queued` (re-send after) and
                                           `sending` (lease end) posts
    P post:<id>                hash        the ledger entry (fields below), kept small
    P text:<id>                string      the exact text the preview showed
    P campaigns                set         campaign slugs
    P c:<campaign>             hash        title, late (max_lateness s), paused, cancelled, ...
    P c:<campaign>:posts       set         every post id the campaign ever had
    P c:<campaign>:channels    hash        channel name -> channel JSON (api_url, credentials, ...)
    P paused                   string      "1" while every campaign is paused
    P bucket:<account>         hash        token bucket of one channel account
    P wake                     list        pushed to wake the scheduler early

Ledger fields: c campaign, ch channel, loc locale, at scheduled time, st state, n attempts,
t1 first attempt, lease claim end, ts last change, sent, rid remote id, url, err last error,
u "1" when an earlier attempt may have reached the platform.

States: scheduled -> queued -> sending -> sent | failed | unknown, and scheduled/queued ->
cancelled, scheduled -> missed. Every transition is one Lua script that checks the current state
first, so only one actor ever moves a post from one state to the next.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from typing import Any

import redis
from redis.commands.core import Script

from campaign.definition import Channel
from campaign.errors import StoreError, UnsafeStoreError
from workers.ledger import (
    FINAL_STATES,
    Claim,
    Moved,
    State,
    StoredPost,
    as_str,
    as_strs,
    iso,
    moment,
    stored,
)
from workers.logging import state_change

__all__ = ["FINAL_STATES", "Claim", "Moved", "State", "Store", "StoredPost"]

log = logging.getLogger(__name__)

# Policies that never evict: anything else could silently drop a ledger entry.
SAFE_POLICIES = frozenset({"noeviction"})


def _script(client: redis.Redis, name: str) -> Script:
    return client.register_script(files("workers").joinpath(f"{name}.lua").read_text("utf-8"))


@contextmanager
def _redis_errors(what: str) -> Iterator[None]:
    """Wrap redis-py errors at the boundary, so callers only see StoreError."""
    try:
        yield
    except redis.RedisError as exc:
        raise StoreError(f"Redis failed while {what}: {exc}") from exc


class Store:
    """The schedule and ledger under one key prefix of one Redis."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.redis = client
        self.prefix = prefix
        self._scripts = {
            name: _script(client, name)
            for name in ("apply", "due", "reclaim", "claim", "finish", "cancel", "bucket")
        }

    @classmethod
    def connect(cls, url: str, prefix: str, *, check: bool = True) -> Store:
        """Connect and, unless told otherwise, refuse an unsafe Redis.

        Raises:
            StoreError: Redis cannot be reached.
            UnsafeStoreError: Redis may evict keys.
        """
        client = redis.Redis.from_url(
            url, decode_responses=True, health_check_interval=10, socket_connect_timeout=5
        )
        store = cls(client, prefix)
        if check:
            for warning in store.check_safety():
                log.warning(warning)
        return store

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def _run(self, name: str, what: str, *args: Any, keys: list[str] | None = None) -> Any:
        with _redis_errors(what):
            return self._scripts[name](keys=keys or [], args=[self.prefix, *args])

    # --- safety -------------------------------------------------------------------------------

    def check_safety(self) -> list[str]:
        """Warnings about durability; raises when Redis could evict the ledger.

        Raises:
            UnsafeStoreError: `maxmemory-policy` is not `noeviction`.
        """
        with _redis_errors("reading its configuration"):
            config = self.redis.config_get("maxmemory-policy")
            config.update(self.redis.config_get("appendonly"))
            config.update(self.redis.config_get("save"))
        policy = config.get("maxmemory-policy", "")
        if policy not in SAFE_POLICIES:
            raise UnsafeStoreError(
                f"Redis has maxmemory-policy {policy!r}, which can evict scheduled posts; "
                "set maxmemory-policy noeviction (redis.conf or CONFIG SET)"
            )
        if config.get("appendonly") != "yes" and not config.get("save"):
            return [
                "Redis has no persistence (appendonly no, no save points): a restart loses every "
                "scheduled post; set appendonly yes"
            ]
        if config.get("appendonly") != "yes":
            return [
                "Redis persists by snapshots only: a crash loses the last changes; "
                "set appendonly yes"
            ]
        return []

    # --- campaigns ----------------------------------------------------------------------------

    def campaigns(self) -> list[str]:
        with _redis_errors("listing campaigns"):
            return sorted(as_str(m) for m in self.redis.smembers(self.key("campaigns")))

    def campaign_info(self, campaign: str) -> dict[str, str]:
        with _redis_errors("reading a campaign"):
            return as_strs(self.redis.hgetall(self.key("c", campaign)))

    def channels(self, campaign: str) -> dict[str, Channel]:
        with _redis_errors("reading channels"):
            raw = as_strs(self.redis.hgetall(self.key("c", campaign, "channels")))
        return {name: Channel.model_validate_json(value) for name, value in raw.items()}

    def channel(self, campaign: str, name: str) -> Channel:
        with _redis_errors("reading a channel"):
            raw = self.redis.hget(self.key("c", campaign, "channels"), name)
        if raw is None:
            raise StoreError(f"campaign {campaign!r} has no stored channel {name!r}")
        return Channel.model_validate_json(raw)

    def post_ids(self, campaign: str) -> list[str]:
        with _redis_errors("listing posts"):
            return sorted(as_str(m) for m in self.redis.smembers(self.key("c", campaign, "posts")))

    def posts(self, campaign: str) -> list[StoredPost]:
        """Every ledger entry of a campaign, ordered by scheduled time."""
        ids = self.post_ids(campaign)
        with _redis_errors("reading posts"):
            pipe = self.redis.pipeline(transaction=False)
            for post_id in ids:
                pipe.hgetall(self.key("post", post_id))
            rows = pipe.execute()
        posts = [
            stored(post_id, as_strs(row)) for post_id, row in zip(ids, rows, strict=True) if row
        ]
        return sorted(posts, key=lambda p: (p.scheduled_at, p.id))

    def post(self, post_id: str) -> StoredPost | None:
        with _redis_errors("reading a post"):
            row = as_strs(self.redis.hgetall(self.key("post", post_id)))
        return stored(post_id, row) if row else None

    def texts(self, ids: list[str]) -> dict[str, str]:
        with _redis_errors("reading texts"):
            values = self.redis.mget([self.key("text", i) for i in ids]) if ids else []
        return {i: as_str(v) for i, v in zip(ids, values, strict=True) if v is not None}

    def apply(self, diff: dict[str, Any], now: float) -> tuple[str, ...]:
        """Run the apply script; returns ("ok",) or ("conflict", id, state)."""
        payload = json.dumps(diff, ensure_ascii=False)
        result = self._run("apply", "applying a plan", now, payload)
        if result[0] == "ok":
            for post_id, channel, *_ in diff["add"] + diff["change"]:
                state_change(post_id, channel, State.SCHEDULED)
            for post_id, channel in diff["cancel"]:
                state_change(post_id, channel, State.CANCELLED, reason=diff["message"])
            self.wake()
        return tuple(result)

    def pause(self, campaign: str | None) -> None:
        """Stop handing out posts of `campaign` (every campaign when None)."""
        with _redis_errors("pausing"):
            if campaign is None:
                self.redis.set(self.key("paused"), "1")
            else:
                self._require(campaign)
                self.redis.hset(self.key("c", campaign), "paused", "1")

    def all_paused(self) -> bool:
        with _redis_errors("reading the pause flag"):
            return self.redis.get(self.key("paused")) is not None

    def resume(self, campaign: str | None) -> None:
        with _redis_errors("resuming"):
            if campaign is None:
                self.redis.delete(self.key("paused"))
            else:
                self._require(campaign)
                self.redis.hdel(self.key("c", campaign), "paused")
        self.wake()

    def cancel(self, campaign: str, message: str, now: float | None = None) -> list[str]:
        """Cancel every post of `campaign` not yet in flight; returns their ids."""
        self._require(campaign)
        flat = self._run("cancel", "cancelling", campaign, now or time.time(), message)
        ids = []
        for post_id, channel in zip(flat[::2], flat[1::2], strict=True):
            state_change(post_id, channel, State.CANCELLED, reason=message)
            ids.append(post_id)
        return ids

    def _require(self, campaign: str) -> None:
        if not self.redis.sismember(self.key("campaigns"), campaign):
            raise StoreError(f"no campaign {campaign!r} is stored (apply its file first)")

    # --- scheduler ----------------------------------------------------------------------------

    def due(self, now: float, *, batch: int, requeue_after: float, hold: float) -> list[Moved]:
        """Move due posts to `queued` (or `missed`); the caller sends a task for each queued one."""
        flat = self._run("due", "handing out due posts", now, batch, requeue_after, hold)
        return self._moved(flat)

    def reclaim(self, now: float, *, batch: int, requeue_after: float) -> list[Moved]:
        """Posts whose task may be lost (queued too long, sending past its lease)."""
        flat = self._run("reclaim", "reclaiming posts", now, requeue_after, batch)
        return [Moved(*flat[i : i + 3]) for i in range(0, len(flat), 3)]

    def _moved(self, flat: list[str]) -> list[Moved]:
        moved = [Moved(*flat[i : i + 3]) for i in range(0, len(flat), 3)]
        for item in moved:
            state_change(item.id, item.channel, item.state)
        return moved

    def next_due(self) -> float | None:
        """When the earliest scheduled post is due (epoch s), or None when nothing is."""
        with _redis_errors("reading the schedule"):
            first = self.redis.zrange(self.key("schedule"), 0, 0, withscores=True)
        return float(first[0][1]) if first else None

    def next_deadline(self) -> float | None:
        with _redis_errors("reading in-flight posts"):
            first = self.redis.zrange(self.key("inflight"), 0, 0, withscores=True)
        return float(first[0][1]) if first else None

    def wake(self) -> None:
        """Tell a sleeping scheduler that the schedule changed."""
        with _redis_errors("waking the scheduler"):
            pipe = self.redis.pipeline()
            pipe.lpush(self.key("wake"), "1")
            pipe.ltrim(self.key("wake"), 0, 0)
            pipe.execute()

    def wait(self, timeout: float) -> None:
        """Sleep up to `timeout` seconds, less when `wake()` is called."""
        if timeout <= 0:
            return
        with _redis_errors("waiting"):
            self.redis.blpop([self.key("wake")], timeout=max(timeout, 0.01))

    # --- publish task -------------------------------------------------------------------------

    def locate(self, post_id: str) -> tuple[str, str] | None:
        """(campaign, channel) of a post, or None when it is not in the ledger."""
        with _redis_errors("reading a post"):
            campaign, channel = self.redis.hmget(self.key("post", post_id), ["c", "ch"])
        return (as_str(campaign), as_str(channel)) if campaign and channel else None

    def claim(
        self, post_id: str, now: float, *, lease: float, idempotent: bool, window: float
    ) -> Claim:
        """Try to take the post for publishing; see claim.lua for the verdicts."""
        r = self._run("claim", "claiming a post", post_id, now, lease, int(idempotent), window)
        verdict, attempt, campaign, channel = r[0], int(r[1]), r[2], r[3]
        if verdict in ("claimed", "resend"):
            claim = Claim(verdict, attempt, campaign, channel, r[4], moment(r[5]), r[6] or "")
            state_change(post_id, channel, State.SENDING, attempt=attempt, verdict=verdict)
            return claim
        if verdict == "paused":
            state_change(post_id, channel, State.SCHEDULED, reason="paused")
        elif verdict == "unknown":
            state_change(post_id, channel, State.UNKNOWN, reason="worker lost while sending")
        return Claim(verdict, attempt, campaign, channel, locale=r[4] if verdict == "skip" else "")

    def record_sent(
        self, post_id: str, claim: Claim, now: float, remote_id: str, url: str | None
    ) -> bool:
        """sending -> sent; the platform's word wins over any other record."""
        return self._finish(post_id, claim, now, State.SENT, ["sent", remote_id, url or ""],
                            url=url)  # fmt: skip

    def record_failed(self, post_id: str, claim: Claim, now: float, error: str) -> bool:
        """sending -> failed, with a reason a person can act on."""
        return self._finish(post_id, claim, now, State.FAILED, ["failed", error], error=error)

    def record_unknown(self, post_id: str, claim: Claim, now: float, error: str) -> bool:
        """sending -> unknown: the post may be published; a person checks the platform."""
        return self._finish(post_id, claim, now, State.UNKNOWN, ["unknown", error], error=error)

    def reschedule(
        self, post_id: str, claim: Claim, now: float, error: str, due: float, *, maybe_sent: bool
    ) -> bool:
        """sending -> scheduled at `due` after a failed attempt (it counts)."""
        args = ["retry", error, due, "1" if maybe_sent else "0"]
        return self._finish(post_id, claim, now, State.SCHEDULED, args, error=error, due=iso(due))

    def defer(self, post_id: str, claim: Claim, now: float, due: float, reason: str) -> bool:
        """sending -> scheduled at `due` without counting an attempt (rate limits)."""
        args = ["defer", due]
        return self._finish(post_id, claim, now, State.SCHEDULED, args, reason=reason, due=iso(due))

    def _finish(
        self, post_id: str, claim: Claim, now: float, state: State, args: list[Any], **detail: Any
    ) -> bool:
        """Run finish.lua; False when the attempt no longer owns the post (nothing written)."""
        done = self._run("finish", "recording an outcome", post_id, claim.attempt, now, *args)
        if done:
            state_change(post_id, claim.channel, state, attempt=claim.attempt, **detail)
        return bool(done)

    def take_token(self, bucket: str, capacity: int, per_seconds: float, now: float) -> float:
        """Take one token from a shared bucket: 0.0, or the seconds to wait for one."""
        key = self.key("bucket", bucket)
        with _redis_errors("rate limiting"):
            wait = self._scripts["bucket"](keys=[key], args=[capacity, per_seconds, now])
        return float(wait)
