"""The Redis store's reads: the catalog, and posts found through the indexes kept beside them.

Scheduled posts come from their campaign's sorted set and day lists, queued and sending ones from
the in-flight set, failed, unknown and missed ones from the campaign's problems, the last sent
from its capped list: each in time proportional to what it finds. Only listing sent or
cancelled posts (or every post) scans the rows. Rows are read a thousand per script call.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Sequence
from typing import Any

import redis

from campaign.definition import Channel
from workers.store.records import (
    CampaignRecord,
    ChannelRoute,
    Event,
    Need,
    Scope,
    State,
    StoredPost,
    instant,
)
from workers.store.redis_rows import (
    SEP,
    as_str,
    as_strs,
    bucket,
    campaign_of,
    errors,
    history,
    in_scope,
    scope_of,
    stored,
)


class RedisReads:
    """What RedisStore reads (a base class: the store provides the client and the scripts)."""

    redis: redis.Redis
    prefix: str

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def run_script(self, name: str, what: str, *args: Any) -> Any:
        raise NotImplementedError

    # --- catalog -----------------------------------------------------------------------------

    def campaigns(self) -> list[CampaignRecord]:
        with errors("listing campaigns"):
            slugs = sorted(as_strs(self.redis.smembers(self.key("campaigns"))))
        found = (self.campaign(slug) for slug in slugs)
        return [record for record in found if record is not None]

    def campaign(self, slug: str) -> CampaignRecord | None:
        with errors("reading a campaign"):
            pipe = self.redis.pipeline(transaction=False)
            pipe.hgetall(self.key("c", slug))
            pipe.smembers(self.key("pauses", slug))
            pipe.exists(self.key("c", slug, "hold"))
            info, pauses, applying = pipe.execute()
        if not info:
            return None
        return CampaignRecord(
            slug,
            info.get("title", ""),
            float(info.get("late", 0)),
            instant(float(info.get("launched", 0))),
            json.loads(info.get("zones") or "{}"),
            tuple(sorted((scope_of(value) for value in pauses), key=str)),
            info.get("cancelled"),
            bool(applying),
        )

    def channels(self, campaign: str) -> dict[str, Channel]:
        with errors("reading channels"):
            raw = self.redis.hgetall(self.key("c", campaign, "channels"))
        return {
            as_str(name): Channel.model_validate_json(value) for name, value in sorted(raw.items())
        }

    def route(self, campaign: str, channel: str) -> ChannelRoute | None:
        with errors("reading a channel"):
            pipe = self.redis.pipeline(transaction=False)
            pipe.hget(self.key("c", campaign, "channels"), channel)
            pipe.hget(self.key("c", campaign, "routes"), channel)
            settings, route = pipe.execute()
        if settings is None:
            return None
        _, bucket_name, capacity, per, _ = (route or SEP * 4).split(SEP)
        return ChannelRoute(
            Channel.model_validate_json(settings),
            bucket_name or None,
            int(capacity or 0),
            float(per or 0),
        )

    def posts(
        self,
        campaign: str,
        *,
        states: Collection[State] | None = None,
        scope: Scope | None = None,
        limit: int | None = None,
        besides: Collection[str] = (),
    ) -> list[StoredPost]:
        """Scheduled posts come from the campaign's sorted set and day lists, queued and
        sending ones from the in-flight set, failed, unknown and missed ones from its problems:
        each in time proportional to what it finds. Sent and cancelled posts (or every post)
        need a scan of every stored post."""
        wanted = set(State) if states is None else set(states)
        found: dict[str, StoredPost] = {}
        if wanted & {State.SENT, State.CANCELLED}:
            found.update(self._scan(campaign, besides))
        else:
            if State.SCHEDULED in wanted:
                found.update(self._scheduled(campaign, scope, limit, besides))
            if wanted & {State.QUEUED, State.SENDING}:
                found.update(self._in_flight(campaign, besides))
            if wanted & {State.FAILED, State.UNKNOWN, State.MISSED}:
                found.update(self._problems(campaign, wanted, scope, limit, besides))
        chosen = [
            post
            for post in found.values()
            if post.campaign == campaign and post.state in wanted and in_scope(post, scope)
        ]
        chosen.sort(key=lambda p: (p.scheduled_at, p.id))
        return chosen[:limit] if limit is not None else chosen

    def _scheduled(
        self, campaign: str, scope: Scope | None, limit: int | None, besides: Collection[str]
    ) -> dict[str, StoredPost]:
        """Scheduled posts in due order: the campaign's sorted set of posts due soon, then its
        day lists; stops once `limit` are found."""
        found: dict[str, StoredPost] = {}

        def take(ids: Sequence[str]) -> bool:
            for post in self._lookup([i for i in ids if i not in besides]).values():
                if post.state is State.SCHEDULED and in_scope(post, scope):
                    found[post.id] = post
            return limit is not None and len(found) >= limit

        window = 1000 if limit is None else max(2 * limit, 20)
        with errors("listing posts"):
            for start in range(0, 1 << 62, window):
                key = self.key("c", campaign, "due")
                ids = as_strs(self.redis.zrange(key, start, start + window - 1))
                if take(ids) or len(ids) < window:
                    break
            if limit is not None and len(found) >= limit:
                return found
            for day in as_strs(self.redis.zrange(self.key("c", campaign, "later"), 0, -1)):
                for start in range(0, 1 << 62, window):
                    key = self.key("c", campaign, "l", day)
                    ids = as_strs(self.redis.lrange(key, start, start + window - 1))
                    if take(ids):
                        return found
                    if len(ids) < window:
                        break
        return found

    def _problems(
        self,
        campaign: str,
        wanted: set[State],
        scope: Scope | None,
        limit: int | None,
        besides: Collection[str],
    ) -> dict[str, StoredPost]:
        """Failed, unknown and missed posts by scheduled time, a window at a time until `limit`
        match."""
        found: dict[str, StoredPost] = {}
        window = 1000 if limit is None else max(2 * limit, 20)
        key = self.key("c", campaign, "problems")
        for start in range(0, 1 << 62, window):
            with errors("listing posts"):
                ids = as_strs(self.redis.zrange(key, start, start + window - 1))
            for post in self._lookup([i for i in ids if i not in besides]).values():
                if post.state in wanted and in_scope(post, scope):
                    found[post.id] = post
            if len(ids) < window or (limit is not None and len(found) >= limit):
                return found
        return found

    def _in_flight(self, campaign: str, besides: Collection[str]) -> dict[str, StoredPost]:
        with errors("listing posts"):
            ids = as_strs(self.redis.zrange(self.key("inflight"), 0, -1))
        found = self._lookup([i for i in ids if i not in besides])
        return {i: p for i, p in found.items() if p.campaign == campaign}

    def _scan(self, campaign: str, besides: Collection[str]) -> dict[str, StoredPost]:
        """Every post of the campaign, by reading every stored row."""
        found: dict[str, StoredPost] = {}
        with errors("listing posts"):
            for key in self.redis.scan_iter(match=self.key("p:*"), count=1000):
                for post_id, raw in self.redis.hscan_iter(key, count=1000):
                    post_id, raw = as_str(post_id), as_str(raw)
                    if campaign_of(raw) == campaign and post_id not in besides:
                        found[post_id] = stored(post_id, raw)
        return found

    def _rows(self, post_ids: Sequence[str]) -> Iterator[tuple[str, str]]:
        """(id, raw row) of each post that exists, a script call per thousand ids."""
        for start in range(0, len(post_ids), 1000):
            ids = list(post_ids[start : start + 1000])
            rows = self.run_script("read", "reading posts", *ids)
            for post_id, raw in zip(ids, rows, strict=True):
                if raw is not None:
                    yield post_id, as_str(raw)

    def _lookup(self, post_ids: Sequence[str], *, text: bool = False) -> dict[str, StoredPost]:
        return {
            post_id: stored(post_id, raw, with_text=text) for post_id, raw in self._rows(post_ids)
        }

    def lookup(self, post_ids: Sequence[str], *, text: bool = False) -> dict[str, StoredPost]:
        return self._lookup(post_ids, text=text)

    def post(self, post_id: str) -> StoredPost | None:
        return self._lookup([post_id]).get(post_id)

    def texts(self, post_ids: Sequence[str]) -> dict[str, str]:
        return {post_id: raw.partition("\x00")[2] for post_id, raw in self._rows(post_ids)}

    def counts(self, campaign: str) -> dict[State, int]:
        with errors("counting posts"):
            raw = self.redis.hgetall(self.key("c", campaign, "counts"))
        return {state: int(raw.get(str(state), 0)) for state in State}

    def history(self, post_id: str) -> list[Event]:
        with errors("reading a post's history"):
            raw = self.redis.hget(bucket(self.prefix, post_id), post_id)
        return history(as_str(raw)) if raw is not None else []

    def recent(self, campaign: str, limit: int) -> list[StoredPost]:
        with errors("listing posts"):
            ids = as_strs(self.redis.lrange(self.key("c", campaign, "sent"), 0, limit - 1))
        found = self._lookup(ids)
        return [found[i] for i in ids if i in found and found[i].state is State.SENT]

    def needs(self, campaign: str) -> list[Need]:
        with errors("reading failures"):
            raw = {
                as_str(k): as_str(v)
                for k, v in self.redis.hgetall(self.key("c", campaign, "needs")).items()
            }
        found = []
        for field, value in sorted(raw.items()):
            kind, _, channel = field.partition(SEP)
            if SEP in channel:
                continue  # the last error of a pair, read below
            last = raw.get(f"{field}{SEP}last", "")
            found.append(Need(channel, kind, int(value), last))
        return sorted(found, key=lambda n: (n.channel, n.kind))
