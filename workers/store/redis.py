"""The Redis store: the `Store` protocol on one Redis, every step that moves a post one Lua script.

Keys (all under the configurable prefix P):

    P schedule                  sorted set   post id -> due time; posts in `scheduled`
    P inflight                  sorted set   post id -> deadline; posts `queued` or `sending`
    P post:<id>                 hash         the ledger row (fields in lua/prelude.lua)
    P text:<id>                 string       the exact text the preview showed
    P h:<id>                    list         the post's history, one entry per state change
    P campaigns                 set          campaign slugs
    P c:<slug>                  hash         title, late (max_lateness s), cancelled
    P c:<slug>:posts            set          every post id the campaign has
    P c:<slug>:counts           hash         state -> number of posts
    P c:<slug>:channels         hash         channel -> settings JSON
    P c:<slug>:routes           hash         channel -> platform, bucket, capacity, per seconds
    P pauses:<slug> / pauses:*  set          paused scopes of one campaign / of every campaign
    P bucket:<name>             hash         a rate-limit token bucket
    P cred:<account>            hash         a shared credential and its version
    P wake                      list         pushed to wake sleeping schedulers

Every script reads the rows it decides on and writes in one atomic step, mirroring
`workers.transitions`. Calls that move posts are never retried blindly by the client: a claim
is retried only with the same owner and an outcome only with the same attempt, which the
scripts recognise as their own earlier success.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from importlib.resources import files
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.commands.core import Script
from redis.retry import Retry as RedisRetry

from campaign.definition import Channel
from campaign.errors import StoreError, StoreTimeout, UnsafeStoreError
from workers.store import ResendPolicy
from workers.store.records import (
    CampaignRecord,
    ChannelRoute,
    Claim,
    Conflict,
    Defer,
    Event,
    Failed,
    Finish,
    Moved,
    Outcome,
    PlanChange,
    Retry,
    Scope,
    Sent,
    State,
    StoredPost,
    Unknown,
    Verdict,
    Versioned,
    instant,
    moment,
)

log = logging.getLogger(__name__)

SCRIPTS = (
    "apply", "bucket", "cancel", "claim", "credential", "due", "finish", "reclaim", "restore",
    "retry",
)  # fmt: skip
SEP = "\x1f"
# Policies that never evict: anything else could silently drop a ledger entry.
SAFE_POLICIES = frozenset({"noeviction"})
# Seconds to wait for an answer: most calls touch a handful of keys; an apply writes many.
CALL_TIMEOUT = 5.0
APPLY_TIMEOUT = 300.0
_FIELDS = (
    "c", "m", "a", "ch", "loc", "at", "st", "tr", "ts", "sent", "rid", "url", "err", "u", "ek",
)  # fmt: skip


class RedisStore:
    """The `Store` protocol on one Redis (a single server: scripts compute post keys)."""

    def __init__(self, client: redis.Redis, prefix: str, *, url: str = "") -> None:
        self.redis = client
        self.prefix = prefix
        self._url = url
        prelude = _lua("prelude")
        self._scripts: dict[str, Script] = {
            name: client.register_script(prelude + "\n" + _lua(name)) for name in SCRIPTS
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
        with _errors("reading its configuration"):
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

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def _run(self, name: str, what: str, *args: Any, keys: Sequence[str] = ()) -> Any:
        with _errors(what):
            return self._scripts[name](keys=list(keys), args=[self.prefix, *args])

    # --- safety ------------------------------------------------------------------------------

    def check_safety(self) -> list[str]:
        """Warnings about durability; raises when Redis could evict the ledger.

        Raises:
            UnsafeStoreError: `maxmemory-policy` is not `noeviction`.
        """
        with _errors("reading its configuration"):
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

    # --- catalog -----------------------------------------------------------------------------

    def campaigns(self) -> list[CampaignRecord]:
        with _errors("listing campaigns"):
            slugs = sorted(_strs(self.redis.smembers(self.key("campaigns"))))
        found = (self.campaign(slug) for slug in slugs)
        return [record for record in found if record is not None]

    def campaign(self, slug: str) -> CampaignRecord | None:
        with _errors("reading a campaign"):
            pipe = self.redis.pipeline(transaction=False)
            pipe.hgetall(self.key("c", slug))
            pipe.smembers(self.key("pauses", slug))
            info, pauses = pipe.execute()
        if not info:
            return None
        return CampaignRecord(
            slug,
            info.get("title", ""),
            float(info.get("late", 0)),
            instant(float(info.get("launched", 0))),
            json.loads(info.get("zones") or "{}"),
            tuple(sorted((_scope(value) for value in pauses), key=str)),
            info.get("cancelled"),
        )

    def channels(self, campaign: str) -> dict[str, Channel]:
        with _errors("reading channels"):
            raw = self.redis.hgetall(self.key("c", campaign, "channels"))
        return {
            _str(name): Channel.model_validate_json(value) for name, value in sorted(raw.items())
        }

    def route(self, campaign: str, channel: str) -> ChannelRoute | None:
        with _errors("reading a channel"):
            pipe = self.redis.pipeline(transaction=False)
            pipe.hget(self.key("c", campaign, "channels"), channel)
            pipe.hget(self.key("c", campaign, "routes"), channel)
            settings, route = pipe.execute()
        if settings is None:
            return None
        _, bucket, capacity, per = (route or f"{SEP}{SEP}0{SEP}0").split(SEP)
        return ChannelRoute(
            Channel.model_validate_json(settings), bucket or None, int(capacity), float(per)
        )

    def posts(
        self,
        campaign: str,
        *,
        states: Collection[State] | None = None,
        scope: Scope | None = None,
        limit: int | None = None,
    ) -> list[StoredPost]:
        with _errors("listing posts"):
            ids = sorted(_strs(self.redis.smembers(self.key("c", campaign, "posts"))))
        found = [
            post
            for post in self._read_posts(ids)
            if (states is None or post.state in states) and _in_scope(post, scope)
        ]
        found.sort(key=lambda p: (p.scheduled_at, p.id))
        return found[:limit] if limit is not None else found

    def _read_posts(self, ids: Sequence[str]) -> Iterator[StoredPost]:
        for start in range(0, len(ids), 1000):
            chunk = ids[start : start + 1000]
            with _errors("reading posts"):
                pipe = self.redis.pipeline(transaction=False)
                for post_id in chunk:
                    pipe.hmget(self.key("post", post_id), _FIELDS)
                    pipe.zscore(self.key("schedule"), post_id)
                answers = pipe.execute()
            for index, post_id in enumerate(chunk):
                values, due = answers[2 * index], answers[2 * index + 1]
                if values[0] is not None:
                    yield _stored(post_id, dict(zip(_FIELDS, values, strict=True)), due)

    def post(self, post_id: str) -> StoredPost | None:
        return next(self._read_posts([post_id]), None)

    def texts(self, post_ids: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for start in range(0, len(post_ids), 1000):
            chunk = list(post_ids[start : start + 1000])
            with _errors("reading texts"):
                values = self.redis.mget([self.key("text", i) for i in chunk])
            found.update((i, _str(v)) for i, v in zip(chunk, values, strict=True) if v is not None)
        return found

    def counts(self, campaign: str) -> dict[State, int]:
        with _errors("counting posts"):
            raw = self.redis.hgetall(self.key("c", campaign, "counts"))
        return {state: int(raw.get(str(state), 0)) for state in State}

    def history(self, post_id: str) -> list[Event]:
        with _errors("reading a post's history"):
            entries = self.redis.lrange(self.key("h", post_id), 0, -1)
        events = []
        for entry in _strs(entries):
            at, state, attempt, detail = entry.split(SEP, 3)
            events.append(Event(instant(float(at)), State(state), int(attempt), detail or None))
        return events

    # --- plans and people --------------------------------------------------------------------

    def apply(self, change: PlanChange, now: float) -> Conflict | None:
        payload = {
            "campaign": change.campaign,
            "title": change.title,
            "late": f"{change.max_lateness:g}",
            "launched": f"{change.launched_at:.3f}",
            "zones": json.dumps(change.zones),
            "channels": {
                name: route.settings.model_dump_json(exclude_none=True)
                for name, route in change.channels.items()
            },
            "routes": {
                name: SEP.join(
                    (
                        route.settings.platform,
                        route.bucket or "",
                        str(route.capacity),
                        f"{route.per_seconds:g}",
                    )
                )
                for name, route in change.channels.items()
            },
            "add": [_new(post) for post in change.add],
            "change": [_new(post) for post in change.change],
            "cancel": change.cancel,
            "reason": change.reason,
        }
        with _errors("applying a plan"):
            script = self._scripts["apply"]
            slow = client_for(self._url, APPLY_TIMEOUT) if self._url else self.redis
            try:
                conflict = script(
                    keys=[], args=[self.prefix, now, json.dumps(payload)], client=slow
                )
            finally:
                if slow is not self.redis:
                    slow.close()
        if conflict:
            return Conflict(conflict[0], conflict[1])
        self.wake()
        return None

    def cancel(self, campaign: str, scope: Scope, reason: str, now: float) -> list[Moved]:
        self._require(campaign)
        flat = self._run(
            "cancel", "cancelling", campaign, now, reason, _scope_key(scope),
            "1" if scope.whole else "0",
        )  # fmt: skip
        return [
            Moved(post_id, campaign, channel, State.CANCELLED, reason)
            for post_id, channel in zip(flat[::2], flat[1::2], strict=True)
        ]

    def restore(self, campaign: str, scope: Scope, now: float) -> list[Moved]:
        self._require(campaign)
        whole = "1" if scope.whole else "0"
        flat = self._run("restore", "restoring", campaign, now, _scope_key(scope), whole)
        moved = [
            Moved(post_id, campaign, channel, State.SCHEDULED, "restored by a person")
            for post_id, channel in zip(flat[::2], flat[1::2], strict=True)
        ]
        if moved:
            self.wake()
        return moved

    def pause(self, campaign: str | None, scope: Scope, now: float) -> None:
        if campaign is not None:
            self._require(campaign)
        with _errors("pausing"):
            self.redis.sadd(self.key("pauses", campaign or "*"), _scope_key(scope))

    def resume(self, campaign: str | None, scope: Scope, now: float) -> bool:
        if campaign is not None:
            self._require(campaign)
        with _errors("resuming"):
            lifted = self.redis.srem(self.key("pauses", campaign or "*"), _scope_key(scope))
        self.wake()
        return bool(lifted)

    def paused_everywhere(self) -> bool:
        with _errors("reading pauses"):
            return bool(self.redis.scard(self.key("pauses", "*")))

    def retry(self, post_ids: Sequence[str], now: float, *, confirmed_not_out: bool) -> list[Moved]:
        if not post_ids:
            return []
        flat = self._run(
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
        with _errors("reading campaigns"):
            if not self.redis.sismember(self.key("campaigns"), campaign):
                raise StoreError(f"no campaign {campaign!r} is stored (apply its file first)")

    # --- the scheduler ------------------------------------------------------------------------

    def hand_out_due(
        self, now: float, *, batch: int, requeue_after: float, hold: float
    ) -> list[Moved]:
        flat = self._run("due", "handing out due posts", now, batch, requeue_after, hold)
        return [
            Moved(flat[i], flat[i + 1], flat[i + 2], State(flat[i + 3]), flat[i + 4] or None)
            for i in range(0, len(flat), 5)
        ]

    def reclaim(self, now: float, *, batch: int, requeue_after: float) -> list[Moved]:
        flat = self._run("reclaim", "reclaiming posts", now, requeue_after, batch)
        return [
            Moved(flat[i], flat[i + 1], flat[i + 2], State(flat[i + 3]))
            for i in range(0, len(flat), 4)
        ]

    def next_wakeup(self) -> float | None:
        with _errors("reading the schedule"):
            pipe = self.redis.pipeline(transaction=False)
            pipe.zrange(self.key("schedule"), 0, 0, withscores=True)
            pipe.zrange(self.key("inflight"), 0, 0, withscores=True)
            firsts = pipe.execute()
        return min((float(first[0][1]) for first in firsts if first), default=None)

    def wake(self) -> None:
        with _errors("waking the scheduler"):
            pipe = self.redis.pipeline()
            pipe.lpush(self.key("wake"), "1")
            pipe.ltrim(self.key("wake"), 0, 0)
            pipe.execute()

    def wait(self, timeout: float) -> None:
        if timeout <= 0:
            return
        with _errors("waiting"):
            # BLPOP's own timeout must stay below the socket's.
            self.redis.blpop([self.key("wake")], timeout=min(max(timeout, 0.01), CALL_TIMEOUT - 1))

    # --- the workers ---------------------------------------------------------------------------

    def claim(
        self, post_id: str, now: float, *, owner: str, lease: float, resend: ResendPolicy
    ) -> Claim:
        policy = json.dumps(
            {name: True if rule.window is None else rule.window for name, rule in resend.items()
             if rule.allowed}
        )  # fmt: skip
        answer = self._idempotent("claim", "claiming a post", post_id, now, owner, lease, policy)
        verdict, attempt, tries, campaign, channel, locale, at, text = answer[:8]
        maybe_sent, retry_at, state, reason = answer[8:]
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
        )

    def finish(self, post_id: str, attempt: int, now: float, outcome: Outcome) -> Finish:
        verdict, state, error = self._idempotent(
            "finish", "recording an outcome", post_id, attempt, now, *_outcome(outcome)
        )
        if verdict == "stale":
            return Finish(recorded=False, state=State(state) if state else None)
        return Finish(
            recorded=True, state=State(state), repeated=verdict == "repeated", reason=error or None
        )

    def _idempotent(self, name: str, what: str, *args: Any) -> Any:
        """Run a script whose repeat recognises its own earlier success: on a timeout or a
        dropped connection it is sent once more, since it may or may not have run."""
        try:
            return self._run(name, what, *args)
        except StoreTimeout:
            log.warning("the store did not answer while %s; asking once more", what)
            return self._run(name, what, *args)

    def take_token(self, bucket: str, capacity: int, per_seconds: float, now: float) -> float:
        key = self.key("bucket", bucket)
        return float(self._run("bucket", "rate limiting", capacity, per_seconds, now, keys=[key]))

    def credential(self, account: str) -> Versioned | None:
        with _errors("reading a credential"):
            version, value = self.redis.hmget(self.key("cred", account), ["v", "value"])
        return Versioned(_str(value), int(version)) if version is not None else None

    def swap_credential(self, account: str, expected_version: int | None, value: str) -> bool:
        expected = "" if expected_version is None else str(expected_version)
        key = self.key("cred", account)
        return bool(self._run("credential", "storing a credential", expected, value, keys=[key]))


def _str(value: bytes | str | None) -> str:
    """A value the client decoded (decode_responses=True): always a str."""
    return value.decode() if isinstance(value, bytes) else (value or "")


def _strs(values: Any) -> list[str]:
    return [_str(value) for value in values]


def client_for(url: str, timeout: float) -> redis.Redis:
    """A client with explicit timeouts and no automatic retries: a script that timed out may
    have run, so whether to send it again is the caller's decision, never the library's."""
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=5,
        socket_timeout=timeout,
        health_check_interval=10,
        retry=RedisRetry(NoBackoff(), 0),
    )


def redact_url(url: str) -> str:
    """A Redis URL without its password, for messages."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://[redacted]@{rest.rpartition('@')[2]}"


@contextmanager
def _errors(what: str) -> Iterator[None]:
    """Wrap redis-py errors at the boundary, so callers only see StoreError."""
    try:
        yield
    except (redis.TimeoutError, redis.ConnectionError) as exc:
        if isinstance(exc, redis.TimeoutError) or "Error while reading" in str(exc):
            raise StoreTimeout(
                f"Redis did not answer while {what}; it may or may not have been done"
            ) from None
        raise StoreError(f"Redis failed while {what}: {exc}") from None
    except redis.RedisError as exc:
        raise StoreError(f"Redis failed while {what}: {exc}") from None


def _lua(name: str) -> str:
    return files("workers.store").joinpath("lua", f"{name}.lua").read_text("utf-8")


def _new(post: Any) -> list[Any]:
    return [
        post.id, post.message, post.audience, post.channel, post.locale, post.scheduled_at,
        post.text,
    ]  # fmt: skip


def _outcome(outcome: Outcome) -> list[Any]:
    if isinstance(outcome, Sent):
        return ["sent", outcome.remote_id, outcome.url or ""]
    if isinstance(outcome, Failed):
        return ["failed", outcome.error, outcome.kind or ""]
    if isinstance(outcome, Unknown):
        return ["unknown", outcome.error]
    if isinstance(outcome, Retry):
        return ["retry", outcome.error, outcome.due, "1" if outcome.maybe_sent else "0"]
    if isinstance(outcome, Defer):
        return ["defer", outcome.reason, outcome.due]
    raise TypeError(f"not an outcome: {outcome!r}")


def _scope(value: str) -> Scope:
    audience, channel, locale = value.split(SEP)
    return Scope(audience or None, channel or None, locale or None)


def _scope_key(scope: Scope) -> str:
    return SEP.join((scope.audience or "", scope.channel or "", scope.locale or ""))


def _in_scope(post: StoredPost, scope: Scope | None) -> bool:
    return scope is None or (
        (scope.audience is None or scope.audience == post.audience)
        and (scope.channel is None or scope.channel == post.channel)
        and (scope.locale is None or scope.locale == post.locale)
    )


def _stored(post_id: str, row: dict[str, str | None], due: float | None) -> StoredPost:
    scheduled = moment(float(row["at"] or 0))
    assert scheduled is not None
    state = State(row["st"] or "scheduled")

    def at(name: str) -> Any:
        value = row[name]
        return moment(float(value)) if value else None

    return StoredPost(
        id=post_id,
        campaign=row["c"] or "",
        message=row["m"] or "",
        audience=row["a"] or "",
        channel=row["ch"] or "",
        locale=row["loc"] or "",
        scheduled_at=scheduled,
        state=state,
        attempts=int(row["tr"] or 0),
        updated_at=at("ts"),
        sent_at=at("sent"),
        remote_id=row["rid"],
        url=row["url"] or None,
        error=row["err"],
        due=moment(due) if due is not None and state is State.SCHEDULED else None,
        maybe_sent=row["u"] == "1",
        error_kind=row["ek"] or None,
    )
