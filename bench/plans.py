"""Campaigns of any size for the benchmarks: in code (for the store) or as files (for the CLI).

Every post goes to Mastodon-shaped channels (or the outbox), each channel its own account with
its own token variable, `BENCH_TOKEN_<n>`, whose value `bench-<n>` the fast server accepts.
Texts are shaped like the shipped templates' (a greeting, a date, a tip, a tagged link and
hashtags): about 200 bytes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from campaign.definition import Campaign
from campaign.post import Post, post_id

TIP = (
    "Safe migration tip, {day}: check your passport, visa and work contract before you leave. "
    "https://www.iom.int/?utm_source=mastodon&utm_medium=social&utm_campaign=bench "
    "#SafeMigration #GCM"
)
# A rate limit no benchmark reaches, so the bucket is taken on every claim but never empty.
UNLIMITED = {"requests": 1_000_000, "per_seconds": 1}


def token_env(channels: int) -> dict[str, str]:
    """The token variable of every channel."""
    return {f"BENCH_TOKEN_{n}": f"bench-{n:04d}" for n in range(channels)}


def channel_name(number: int) -> str:
    return f"m{number:04d}"


def campaign(
    slug: str, channels: int, api_url: str, *, max_lateness: timedelta = timedelta(hours=1)
) -> Campaign:
    """A campaign with one audience and `channels` Mastodon channels."""
    names = [channel_name(n) for n in range(channels)]
    return Campaign.model_validate(
        {
            "campaign": slug,
            "title": f"Benchmark {slug}",
            "timezone": "UTC",
            "start": "2026-01-01",
            "end": "2035-12-31",
            "max_lateness": max_lateness,
            "audiences": {"all": {"locales": ["en"], "channels": names}},
            "channels": {
                name: {
                    "platform": "mastodon",
                    "api_url": api_url,
                    "credentials": f"BENCH_TOKEN_{n}",
                    "visibility": "unlisted",
                    "rate_limit": UNLIMITED,
                }
                for n, name in enumerate(names)
            },
            "messages": {"tip": {"template": "tip", "schedule": [{"at": "2026-06-01 10:00"}]}},
        }
    )


def posts(
    plan: Campaign, times: list[float], *, channels: int | None = None, message: str = "tip"
) -> list[Post]:
    """One post per time, round-robin over the channels."""
    count = channels or len(plan.channels)
    made = []
    for index, at in enumerate(times):
        moment = datetime.fromtimestamp(at, UTC)
        channel = channel_name(index % count)
        name = f"{message}{index}"
        text = TIP.format(day=f"{moment:%d.%m.%Y} #{index}")
        made.append(
            Post(
                id=post_id(plan.campaign, name, "all", "en", channel, moment),
                campaign=plan.campaign,
                message=name,
                audience="all",
                locale="en",
                channel=channel,
                platform="mastodon",
                scheduled_at=moment,
                local_time=moment,
                timezone="UTC",
                text=text,
                length=len(text),
                limit=500,
            )
        )
    return made


# Messages share this many templates, as a big campaign's messages would. (A template's time
# budget grows with its posts, so one template for a million posts would fit too.)
TEMPLATES = 10
TEMPLATE = """\
{%- set tips = [
  "check your passport, visa and work contract before you leave.",
  "find out how health care works where you go, and keep copies of your records.",
  "if your employer keeps your passport or pay, that is exploitation: ask for help.",
] -%}
Safe migration tip, {{ local_time.strftime('%d.%m.%Y') }}: {{ tips[occurrence % 3] }}
{{ link | utm }} {{ hashtags | hashtags }}
"""


def write_file(
    root: Path,
    slug: str,
    *,
    channels: int,
    messages: int,
    schedule: list[dict[str, Any]] | None = None,
    days: int = 1,
    platform: str = "mastodon",
    api_url: str = "",
    schedules: list[list[dict[str, Any]]] | None = None,
    start: str = "2026-01-01",
) -> Path:
    """A campaign file with `messages` messages to `channels` channels (one audience, English).

    Each message is sent on `schedule` (default: daily at 10:00 for `days` days from `start`),
    or message n on `schedules[n]`. Posts: messages x channels x occurrences.
    """
    import json

    names = [channel_name(n) for n in range(channels)]
    if platform == "outbox":
        channel_lines = [f"  {name}: {{platform: outbox, directory: outbox}}" for name in names]
    else:
        channel_lines = [
            f"  {name}: {{platform: mastodon, api_url: '{api_url}', credentials: BENCH_TOKEN_{n}, "
            f"visibility: unlisted, rate_limit: {json.dumps(UNLIMITED)}}}"
            for n, name in enumerate(names)
        ]
    default = schedule or [{"rrule": f"FREQ=DAILY;COUNT={days};BYHOUR=10;BYMINUTE=0;BYSECOND=0"}]
    lines = [
        f"campaign: {slug}",
        f"title: Benchmark {slug}",
        "timezone: UTC",
        f"start: {start}",
        f"end: {int(start[:4]) + 9}-12-31",
        "templates: templates",
        "max_lateness: PT1H",
        "audiences:",
        f"  all: {{locales: [en], channels: [{', '.join(names)}]}}",
        "channels:",
        *channel_lines,
        "messages:",
    ]
    for number in range(messages):
        entries = schedules[number] if schedules is not None else default
        lines.append(
            f"  tip{number}: {{template: tip{number % TEMPLATES}, link: 'https://www.iom.int/', "
            f"hashtags: [SafeMigration, GCM], schedule: {json.dumps(entries)}}}"
        )
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{slug}.yaml"
    path.write_text("\n".join(lines) + "\n")
    for number in range(min(messages, TEMPLATES)):
        folder = root / "templates" / f"tip{number}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "en.j2").write_text(TEMPLATE)
    return path


def write_like_the_store(client: Any, prefix: str, posts: list[Post]) -> None:
    """The keys the Redis store writes for new posts a week or more ahead (workers/store/lua,
    rows.lua and prelude.lua: the row in its bucket hash, the day list, the days, the count),
    with bare redis-py pipelines of 1,000 posts: the baseline of `apply`."""
    day_seconds = 86400
    for start in range(0, len(posts), 1000):
        pipe = client.pipeline(transaction=False)
        for post in posts[start : start + 1000]:
            at = round(post.scheduled_at.timestamp(), 3)
            day = int(at // day_seconds)
            identity = "\x1f".join(
                (post.campaign, post.message, post.audience, post.channel, post.locale, f"{at}")
            )
            row = f'{identity}\x1e{{"s":"scheduled"}}\x00{post.text}'
            campaign = f"{prefix}c:{post.campaign}"
            pipe.hset(f"{prefix}p:{post.id[:2]}", post.id, row)
            pipe.rpush(f"{campaign}:l:{day}", post.id)
            pipe.zadd(f"{campaign}:later", {str(day): day * day_seconds})
            pipe.zadd(f"{prefix}later", {f"{post.campaign}\x1f{day}": day * day_seconds})
            pipe.hincrby(f"{campaign}:counts", "scheduled", 1)
        pipe.execute()
