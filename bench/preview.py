"""Preview throughput: rendered-and-validated posts per second, against bare sandboxed Jinja2.

Generates a campaign of 10,000 posts (5 audiences, 2 locales each, 2 channels each on five
platforms, one message a day for 500 days), then measures in the same run:
  - ours: `load_plan` (YAML, models, schedules, DST, rendering, platform rules, ids), each run
    in a new process so that no cache carries over;
  - baseline: a SandboxedEnvironment rendering the same templates with the same contexts.
Prints both rates and their ratio (target: >= 0.7); bench/run.py reports it with the others.

    python bench/preview.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from campaign.plan import load_plan
from campaign.post import Post

if TYPE_CHECKING:
    from bench.harness import Context

AUDIENCES = {
    "migrants-kg": (["ky", "ru"], "Asia/Bishkek", ["telegram-kg", "facebook-kg"]),
    "activists": (["ru", "en"], "Asia/Bishkek", ["x-un", "mastodon-un"]),
    "ngo-partners": (["en", "ru"], "Asia/Bishkek", ["mastodon-un", "bluesky-un"]),
    "kosovo": (["sq", "sr"], "Europe/Belgrade", ["facebook-ks", "telegram-ks"]),
    "stakeholders": (["en", "sq"], "Europe/Belgrade", ["x-un", "bluesky-un"]),
}
CHANNELS = {
    "telegram-kg": "telegram",
    "facebook-kg": "facebook",
    "x-un": "x",
    "mastodon-un": "mastodon",
    "bluesky-un": "bluesky",
    "facebook-ks": "facebook",
    "telegram-ks": "telegram",
}
# What each platform's channel needs besides its platform (the names, never the secrets).
CHANNEL_SETTINGS = {
    "telegram": "credentials: TELEGRAM_TOKEN, account: '@SafeMigrationKG'",
    "facebook": "credentials: FACEBOOK_TOKEN, account: '1234567890'",
    "x": "credentials: {refresh_token: X_REFRESH_TOKEN, client_id: X_CLIENT_ID}",
    "mastodon": "credentials: MASTODON_TOKEN, api_url: 'https://mastodon.example'",
    "bluesky": "credentials: BLUESKY_PASSWORD, account: bench.bsky.social",
}
# Shaped like the shipped templates: a series that rotates its topic, a heading, a body, a tagged
# link and hashtags (short enough for X, which the campaign also posts to).
TEMPLATE = """\
{#- A tip a day, rotating through the topics. -#}
{%- set tips = {
  "documents": "Check your passport, visa and work contract before you leave.",
  "health": "Find out how health care works where you go, and keep copies of your records.",
  "help": "If your employer keeps your passport or pay, that is exploitation: ask for help.",
} -%}
{%- set topic = topics[occurrence % topics | length] -%}
{{ greeting }}, {{ local_time.strftime('%d.%m.%Y') }}: {{ tips[topic] }}
{% if platform in ("telegram", "facebook") %}
Questions? Write to us here.
{% endif %}
{{ link | utm }} {{ hashtags | hashtags }}
"""
DAYS = 500
START = date(2027, 1, 1)


def write_campaign(root: Path) -> Path:
    lines = [
        "campaign: bench",
        "title: Benchmark",
        "timezone: Asia/Bishkek",
        f"start: {START}",
        f"end: {START + timedelta(days=DAYS - 1)}",
        "templates: templates",
        "audiences:",
    ]
    for name, (locales, zone, channels) in AUDIENCES.items():
        lines.append(
            f"  {name}: {{locales: [{', '.join(locales)}], timezone: {zone}, "
            f"channels: [{', '.join(channels)}]}}"
        )
    lines.append("channels:")
    for name, platform in CHANNELS.items():
        lines.append(f"  {name}: {{platform: {platform}, {CHANNEL_SETTINGS[platform]}}}")
    lines += [
        "messages:",
        "  daily:",
        "    template: daily",
        "    vars: {greeting: Safe migration tip, topics: [documents, health, help]}",
        "    link: https://www.iom.int/",
        "    hashtags: [SafeMigration, GCM]",
        "    schedule: [{rrule: 'FREQ=DAILY;BYHOUR=10;BYMINUTE=0'}]",
    ]
    (root / "campaign.yaml").write_text("\n".join(lines) + "\n")
    folder = root / "templates" / "daily"
    folder.mkdir(parents=True)
    for locale in {loc for locales, _, _ in AUDIENCES.values() for loc in locales}:
        (folder / f"{locale}.j2").write_text(TEMPLATE)
    return root / "campaign.yaml"


def baseline(root: Path, contexts: Path) -> float:
    """Seconds for bare sandboxed Jinja2, in a fresh interpreter, to render the same templates
    with the same contexts and the same filters (so the ratio measures the pipeline around it)."""
    script = (
        "import json, sys, time\n"
        "from datetime import datetime\n"
        "import jinja2\n"
        "from jinja2.sandbox import SandboxedEnvironment\n"
        "from campaign import filters\n"
        "root, contexts = sys.argv[1], json.load(open(sys.argv[2]))\n"
        "environment = SandboxedEnvironment(\n"
        "    loader=jinja2.FileSystemLoader(root), undefined=jinja2.StrictUndefined)\n"
        "defaults = filters.UtmDefaults(source=None, medium='social', campaign='bench')\n"
        "environment.filters.update(utm=filters.utm_filter(defaults), hashtags=filters.hashtags)\n"
        "for c in contexts:\n"
        "    c.update(local_time=datetime.fromisoformat(c['local_time']))\n"
        "templates = {c['locale']: environment.get_template(f\"daily/{c['locale']}.j2\")\n"
        "             for c in contexts}\n"
        "began = time.perf_counter()\n"
        "for c in contexts:\n"
        "    templates[c['locale']].render(c)\n"
        "print(time.perf_counter() - began)\n"
    )
    return _timed(script, str(root / "templates"), str(contexts))


def ours(path: Path) -> float:
    """Seconds `load_plan` takes in a fresh interpreter (imports are not timed)."""
    script = (
        "import sys, time\n"
        "from campaign.plan import load_plan\n"
        "began = time.perf_counter(); load_plan(sys.argv[1])\n"
        "print(time.perf_counter() - began)\n"
    )
    return _timed(script, str(path))


def _timed(script: str, *arguments: str) -> float:
    result = subprocess.run(
        [sys.executable, "-c", script, *arguments], capture_output=True, text=True, check=True
    )
    return float(result.stdout)


def _context(post: Post) -> dict[str, object]:
    """The context our renderer gives this post's template, as JSON."""
    return {
        "greeting": "Safe migration tip",
        "topics": ["documents", "health", "help"],
        "occurrence": post.local_time.toordinal(),
        "local_time": post.local_time.isoformat(),
        "link": "https://www.iom.int/",
        "hashtags": ["SafeMigration", "GCM"],
        "locale": post.locale,
        "platform": post.platform,
        "audience": {"name": post.audience, "description": ""},
    }


def measure(repeat: int) -> tuple[int, float, float]:
    """Posts, our rate and the bare Jinja2 rate (posts/s), the best of `repeat` runs each."""
    with tempfile.TemporaryDirectory() as folder:
        path = write_campaign(Path(folder))
        # Each run of either side is a new process, as `campaign preview` is: nothing cached
        # or warmed carries over from one run to the next.
        plan = load_plan(path)
        contexts = Path(folder) / "contexts.json"
        contexts.write_text(json.dumps([_context(post) for post in plan.posts]))
        our_times, bare_times = [], []
        for _ in range(repeat):  # interleaved, so both see the same machine
            our_times.append(ours(path))
            bare_times.append(baseline(Path(folder), contexts))
    posts = len(plan.posts)
    return posts, posts / min(our_times), posts / min(bare_times)


def run(context: Context) -> None:
    """The figure for bench/run.py."""
    from bench.harness import at_least, figure

    posts, our_rate, bare_rate = measure(3 if context.quick else 5)
    context.add(figure(
        "preview", "preview (load, schedule, render, count, ids)", our_rate, "posts/s",
        baseline=bare_rate, baseline_name="bare sandboxed Jinja2 rendering the same templates",
        target=">= 0.7x", check=at_least(0.7), note=f"{posts:,} posts; best of runs in new "
        "processes",
    ))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5, help="runs of each; the best counts")
    arguments = parser.parse_args()
    posts, our_rate, bare_rate = measure(arguments.repeat)
    print(f"posts: {posts}")
    print(f"ours (load, schedule, render, count, ids): {our_rate:,.0f} posts/s")
    print(f"baseline (bare sandboxed Jinja2 render):  {bare_rate:,.0f} posts/s")
    print(f"ratio: {our_rate / bare_rate:.2f} (target >= 0.7)")


if __name__ == "__main__":
    main()
