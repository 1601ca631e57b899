"""The Redis store: the `Store` protocol on one Redis, every step that moves a post one Lua script.

Keys (all under the configurable prefix P; lua/prelude.lua says what a row holds):

    P p:<first 2 of id>         hash         post id -> its ledger row and exact text
    P due                       sorted set   "slug SEP due ms" -> due time: instants with posts
    P c:<slug>:due              sorted set   "due ms" -> due time: the campaign's instants
    P c:<slug>:d:<due ms>       list         ids of the campaign's posts due then (stale kept
                                             until read: the row is the truth)
    P inflight                  sorted set   post id -> deadline; posts `queued` or `sending`
    P campaigns                 set          campaign slugs
    P c:<slug>                  hash         title, late (max_lateness s), launched, zones,
                                             cancelled
    P c:<slug>:counts           hash         state -> number of posts
    P c:<slug>:problems         sorted set   id -> scheduled time: failed, unknown, missed
    P c:<slug>:sent             list         the last 100 posts sent, newest first
    P c:<slug>:needs            hash         "kind SEP channel" -> failed posts that need a person
    P c:<slug>:channels         hash         channel -> settings JSON
    P c:<slug>:routes           hash         channel -> platform, bucket, capacity, per seconds,
                                             version of its settings
    P c:<slug>:hold, holds      hash, set    an apply in steps, a cancel or a restore going
                                             through the campaign; the campaigns with one
    P stage:<apply>:<n>         string       a staged chunk of an apply in steps
    P pauses:<slug> / pauses:*  set          paused scopes of one campaign / of every campaign
    P bucket:<name>             hash         a rate-limit token bucket
    P cred:<account>            hash         a shared credential and its version
    P wake                      list         pushed to wake sleeping schedulers

Every script reads the rows it decides on and writes in one atomic step, mirroring
`workers.transitions`, and touches a bounded number of posts, so that Redis serves everybody
between two steps. Calls that move posts are never retried blindly: a claim is retried only
with the same owner and an outcome only with the same attempt, which the scripts recognise as
their own earlier success.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Sequence
from importlib.resources import files
from typing import Any

import redis
from redis.commands.core import Script

from campaign.errors import StoreError, StoreTimeout, UnsafeStoreError
from workers.store import ResendPolicy
from workers.store.records import (
    Claim,
    Conflict,
    Defer,
    Failed,
    Finish,
    Moved,
    Outcome,
    PlanChange,
    Retry,
    Scope,
    Sent,
    State,
    Unknown,
    Verdict,
    Versioned,
    moment,
)
from workers.store.redis_apply import RedisStagedApply, encoded, settings_of
from workers.store.redis_reads import RedisReads
from workers.store.redis_rows import (
    CALL_TIMEOUT,
    as_str,
    client_for,
    errors,
    redact_url,
    scope_key,
)
from workers.store.staging import CHUNK, HOLD, chunks

log = logging.getLogger(__name__)

# Each script: the files it is made of, after the prelude.
SCRIPTS: dict[str, tuple[str, ...]] = {
    "apply": ("rows", "apply"),
    "apply_begin": ("apply_begin",),
    "apply_stage": ("rows", "apply_stage"),
    "apply_commit": ("rows", "apply_commit"),
    "apply_roll": ("rows", "apply_roll"),
    "bucket": ("bucket",),
    "cancel": ("walk", "cancel"),
    "claim": ("post", "claim"),
    "credential": ("credential",),
    "due": ("due",),
    "finish": ("post", "finish"),
    "finish_claim": ("post", "finish_claim"),
    "read": ("read",),
    "reclaim": ("reclaim",),
    "restore": ("walk", "restore"),
    "retry": ("retry",),
    "wakeup": ("wakeup",),
}
# Policies that never evict: anything else could silently drop a ledger entry.
SAFE_POLICIES = frozenset({"noeviction"})
WINDOW = 2000  # entries of a campaign's due lists a cancel or restore looks at per step
ROLL_BUDGET = 0.1  # seconds a scheduler pass spends rolling forward an abandoned apply
__all__ = ["CALL_TIMEOUT", "RedisStore", "client_for", "redact_url"]


class RedisStore(RedisReads):
    """The `Store` protocol on one Redis (a single server: scripts compute post keys); its reads
    are in redis_reads.py."""

    def __init__(
        self, client: redis.Redis, prefix: str, *, url: str = "", chunk: int = CHUNK
    ) -> None:
        self.redis = client
        self.prefix = prefix
        self.chunk = chunk
        self._url = url
        prelude = _lua("prelude")
        self._scripts: dict[str, Script] = {
            name: client.register_script("\n".join([prelude, *map(_lua, parts)]))
            for name, parts in SCRIPTS.items()
        }

    @classmethod
    def connect(cls, settings: Any) -> RedisStore:
        """Connect to the settings' Redis and refuse one that could lose the ledger.

        Raises:
            StoreError: Redis cannot be reached.
            UnsafeStoreError: Redis may evict keys.
        """
        url = str(settings.redis_url)
        store = cls(client_for(url, CALL_TIMEOUT), settings.key_prefix, url=url)
        try:
            store.redis.ping()
        except redis.RedisError as exc:
            store.close()
            reason = str(exc).rstrip(".")
            raise StoreError(
                f"cannot reach Redis at {redact_url(url)} (CAMPAIGN_REDIS_URL): {reason}. Start "
                "it (e.g. redis-server --port 6390 --appendonly yes --appendfsync always --dir "
                "./redis-data), correct CAMPAIGN_REDIS_URL, or unset it to use the embedded store"
            ) from None
        for warning in store.check_safety():
            log.warning(warning)
        return store

    def describe(self) -> str:
        return f"Redis {redact_url(self._url)}, keys under {self.prefix!r}"

    def claim_loss(self) -> str | None:
        with errors("reading its configuration"):
            config = self.redis.config_get("appendonly")
            config.update(self.redis.config_get("appendfsync"))
        if config.get("appendonly") != "yes":
            return "Redis keeps no append-only file: a crash of its machine loses every change"
        if config.get("appendfsync") != "always":
            return (
                f"Redis fsyncs its append-only file {config.get('appendfsync')!r}, not 'always': a "
                "crash of its machine can lose the last second of claims"
            )
        return None

    def close(self) -> None:
        self.redis.close()

    def run_script(self, name: str, what: str, *args: Any) -> Any:
        """Run one of the scripts (ARGV[1] is always the prefix)."""
        with errors(what):
            return self._scripts[name](keys=[], args=[self.prefix, *args])

    def _bucket_script(self, name: str, what: str, key: str, *args: Any) -> Any:
        with errors(what):
            return self._scripts[name](keys=[key], args=[self.prefix, *args])

    # --- safety ------------------------------------------------------------------------------

    def check_safety(self) -> list[str]:
        """Warnings about durability; raises when Redis could evict the ledger.

        Raises:
            UnsafeStoreError: `maxmemory-policy` is not `noeviction`.
        """
        with errors("reading its configuration"):
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

    # --- plans and people --------------------------------------------------------------------

    def apply(self, change: PlanChange, now: float) -> Conflict | None:
        parts = list(chunks(change, self.chunk))
        if len(parts) > 1:
            from workers.store import run_staged

            conflict = run_staged(self.apply_in_steps(change, now))
        else:
            payload = {
                "campaign": change.campaign,
                "settings": settings_of(change),
                **parts[0],
                "reason": change.reason,
            }
            answer = self.run_script("apply", "applying a plan", now, encoded(payload))
            conflict = Conflict(answer[0], answer[1]) if answer else None
        if conflict is None:
            self.wake()
        return conflict

    def apply_in_steps(self, change: PlanChange, now: float) -> RedisStagedApply:
        return RedisStagedApply(self, change, now)

    def roll_forward(self, campaign: str, now: float) -> bool:
        """Write the next chunk of the campaign's committed apply; True once it is complete."""
        answer = self.run_script(
            "apply_roll",
            "applying a plan",
            campaign,
            now,
            now + 60,  # renew the hold
        )
        return bool(answer[0] == "done")

    def _walk(
        self, name: str, what: str, campaign: str, now: float, *args: Any
    ) -> list[tuple[str, str]]:
        """Run a cancel or restore script window by window, holding the campaign meanwhile;
        (id, channel) of each post moved."""
        hold = uuid.uuid4().hex[:16]
        started = time.monotonic()
        moved: list[tuple[str, str]] = []
        cursor = ""
        while True:
            clock = now + (time.monotonic() - started)
            answer = self.run_script(
                name, what, campaign, clock, *args, hold, clock + HOLD, cursor, WINDOW
            )
            if answer[0] == "held":
                raise StoreError(
                    f"campaign {campaign!r} is being applied, cancelled or restored by another "
                    "process; try again when that is done"
                )
            moved.extend(zip(answer[1::2], answer[2::2], strict=True))
            cursor = answer[0]
            if not cursor:
                return moved

    def cancel(self, campaign: str, scope: Scope, reason: str, now: float) -> list[Moved]:
        self._require(campaign)
        whole = "1" if scope.whole else "0"
        moved = self._walk("cancel", "cancelling", campaign, now, reason, scope_key(scope), whole)
        self.wake()
        return [Moved(i, campaign, channel, State.CANCELLED, reason) for i, channel in moved]

    def restore(self, campaign: str, scope: Scope, now: float) -> list[Moved]:
        self._require(campaign)
        whole = "1" if scope.whole else "0"
        moved = self._walk("restore", "restoring", campaign, now, scope_key(scope), whole)
        if moved:
            self.wake()
        reason = "restored by a person"
        return [Moved(i, campaign, channel, State.SCHEDULED, reason) for i, channel in moved]

    def pause(self, campaign: str | None, scope: Scope, now: float) -> None:
        if campaign is not None:
            self._require(campaign)
        with errors("pausing"):
            self.redis.sadd(self.key("pauses", campaign or "*"), scope_key(scope))

    def resume(self, campaign: str | None, scope: Scope, now: float) -> bool:
        if campaign is not None:
            self._require(campaign)
        with errors("resuming"):
            lifted = self.redis.srem(self.key("pauses", campaign or "*"), scope_key(scope))
        self.wake()
        return bool(lifted)

    def paused_everywhere(self) -> bool:
        with errors("reading pauses"):
            return bool(self.redis.scard(self.key("pauses", "*")))

    def retry(self, post_ids: Sequence[str], now: float, *, confirmed_not_out: bool) -> list[Moved]:
        if not post_ids:
            return []
        flat = self.run_script(
            "retry", "retrying posts", now, "1" if confirmed_not_out else "0", *post_ids
        )
        moved = [
            Moved(flat[i], flat[i + 1], flat[i + 2], State.SCHEDULED, "retried by a person")
            for i in range(0, len(flat), 3)
        ]
        if moved:
            self.wake()
        return moved

    def _require(self, campaign: str) -> None:
        with errors("reading campaigns"):
            if not self.redis.sismember(self.key("campaigns"), campaign):
                raise StoreError(f"no campaign {campaign!r} is stored (apply its file first)")

    # --- the scheduler ------------------------------------------------------------------------

    def hand_out_due(
        self, now: float, *, batch: int, requeue_after: float, hold: float
    ) -> list[Moved]:
        flat, helped = self.run_script(
            "due", "handing out due posts", now, batch, requeue_after, hold
        )
        for campaign in helped:
            self._help(campaign, now)
        return [
            Moved(flat[i], flat[i + 1], flat[i + 2], State(flat[i + 3]), flat[i + 4] or None)
            for i in range(0, len(flat), 5)
        ]

    def _help(self, campaign: str, now: float) -> None:
        """Roll forward, for a while, an apply whose applier died after committing it."""
        log.warning("campaign=%s: completing an apply its applier left committed", campaign)
        until = time.monotonic() + ROLL_BUDGET
        while not self.roll_forward(campaign, now) and time.monotonic() < until:
            pass

    def reclaim(self, now: float, *, batch: int, requeue_after: float) -> list[Moved]:
        flat = self.run_script("reclaim", "reclaiming posts", now, requeue_after, batch)
        return [
            Moved(flat[i], flat[i + 1], flat[i + 2], State(flat[i + 3]))
            for i in range(0, len(flat), 4)
        ]

    def next_wakeup(self) -> float | None:
        answer = self.run_script("wakeup", "reading the schedule", time.time())
        return float(answer) if answer else None

    def wake(self) -> None:
        with errors("waking the scheduler"):
            pipe = self.redis.pipeline()
            pipe.lpush(self.key("wake"), "1")
            pipe.ltrim(self.key("wake"), 0, 0)
            pipe.execute()

    def wait(self, timeout: float) -> None:
        if timeout <= 0:
            return
        with errors("waiting"):
            # BLPOP's own timeout must stay below the socket's.
            self.redis.blpop([self.key("wake")], timeout=min(max(timeout, 0.01), CALL_TIMEOUT - 1))

    # --- the workers ---------------------------------------------------------------------------

    def claim(
        self, post_id: str, now: float, *, owner: str, lease: float, resend: ResendPolicy
    ) -> Claim:
        answer = self._idempotent(
            "claim", "claiming a post", post_id, now, owner, lease, _policy(resend)
        )
        return _claim(post_id, answer)

    def finish(self, post_id: str, attempt: int, now: float, outcome: Outcome) -> Finish:
        answer = self._idempotent(
            "finish", "recording an outcome", post_id, attempt, now, *_outcome(outcome)
        )
        return _finish(answer)

    def finish_and_claim(
        self,
        post_id: str,
        attempt: int,
        now: float,
        outcome: Outcome,
        next_id: str,
        *,
        owner: str,
        lease: float,
        resend: ResendPolicy,
    ) -> tuple[Finish, Claim]:
        answer = self._idempotent(
            "finish_claim", "recording an outcome and claiming the next post", post_id,
            attempt, now, *_outcome(outcome), next_id, owner, lease, _policy(resend),
        )  # fmt: skip
        return _finish(answer[:3]), _claim(next_id, answer[3:])

    def _idempotent(self, name: str, what: str, *args: Any) -> Any:
        """Run a script whose repeat recognises its own earlier success: on a timeout or a
        dropped connection it is sent once more, since it may or may not have run."""
        try:
            return self.run_script(name, what, *args)
        except StoreTimeout:
            log.warning("the store did not answer while %s; asking once more", what)
            return self.run_script(name, what, *args)

    def take_token(self, bucket: str, capacity: int, per_seconds: float, now: float) -> float:
        key = self.key("bucket", bucket)
        return float(
            self._bucket_script("bucket", "rate limiting", key, capacity, per_seconds, now)
        )

    def credential(self, account: str) -> Versioned | None:
        with errors("reading a credential"):
            version, value = self.redis.hmget(self.key("cred", account), ["v", "value"])
        return Versioned(as_str(value), int(version)) if version is not None else None

    def swap_credential(self, account: str, expected_version: int | None, value: str) -> bool:
        expected = "" if expected_version is None else str(expected_version)
        key = self.key("cred", account)
        return bool(self._bucket_script("credential", "storing a credential", key, expected, value))


def _lua(name: str) -> str:
    return files("workers.store").joinpath("lua", f"{name}.lua").read_text("utf-8")


def _policy(resend: ResendPolicy) -> str:
    return json.dumps(
        {name: True if rule.window is None else rule.window for name, rule in resend.items()
         if rule.allowed}
    )  # fmt: skip


def _claim(post_id: str, answer: Sequence[Any]) -> Claim:
    verdict, attempt, tries, campaign, channel, locale, at, text = answer[:8]
    maybe_sent, retry_at, state, reason, version = answer[8:13]
    return Claim(
        verdict=Verdict(verdict),
        post_id=post_id,
        attempt=int(attempt),
        tries=int(tries),
        campaign=campaign,
        channel=channel,
        locale=locale,
        scheduled_at=moment(float(at)) if at else None,
        text=text,
        maybe_sent=maybe_sent == "1",
        retry_at=float(retry_at) if retry_at else None,
        state=state,
        reason=reason or None,
        channel_version=version,
    )


def _finish(answer: Sequence[Any]) -> Finish:
    verdict, state, error = answer
    if verdict == "stale":
        return Finish(recorded=False, state=State(state) if state else None)
    return Finish(
        recorded=True, state=State(state), repeated=verdict == "repeated", reason=error or None
    )


def _outcome(outcome: Outcome) -> list[Any]:
    if isinstance(outcome, Sent):
        return ["sent", outcome.remote_id, outcome.url or "", ""]
    if isinstance(outcome, Failed):
        return ["failed", outcome.error, outcome.kind or "", ""]
    if isinstance(outcome, Unknown):
        return ["unknown", outcome.error, "", ""]
    if isinstance(outcome, Retry):
        return ["retry", outcome.error, outcome.due, "1" if outcome.maybe_sent else "0"]
    if isinstance(outcome, Defer):
        return ["defer", outcome.reason, outcome.due, ""]
    raise TypeError(f"not an outcome: {outcome!r}")
