"""Preview throughput: rendered-and-validated posts per second, against bare sandboxed Jinja2.

Generates a campaign of 10,000 posts (5 audiences, 2 locales each, 2 channels each on five
platforms, one message a day for 500 days), then measures in the same run:
  - ours: `load_plan` (YAML, models, schedules, DST, rendering, platform rules, ids);
  - baseline: a SandboxedEnvironment rendering the same templates with the same contexts.
Prints both rates and their ratio (target: >= 0.5).

    python bench/preview.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from campaign import plan as plan_module
from campaign import render
from campaign.plan import load_plan

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
TEMPLATE = (
    "{{ greeting }} {{ local_time.strftime('%d.%m.%Y') }}: {{ topic }} — "
    "{{ link | utm }} {{ hashtags | hashtags }}"
)
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
        extra = ", api_url: 'https://mastodon.example'" if platform == "mastodon" else ""
        lines.append(f"  {name}: {{platform: {platform}, credentials: TOKEN_{len(name)}{extra}}}")
    lines += [
        "messages:",
        "  daily:",
        "    template: daily",
        "    vars: {greeting: Hello, topic: safe and regular migration}",
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


def baseline(root: Path, contexts: list[dict[str, object]]) -> float:
    """Seconds for bare sandboxed Jinja2 to render the same templates with the same contexts."""
    environment = SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(root / "templates"), undefined=jinja2.StrictUndefined
    )
    # The same filters as ours, so the ratio measures the pipeline around rendering.
    environment.filters.update(utm=render._utm, hashtags=render._hashtags)
    templates = {
        locale: environment.get_template(f"daily/{locale}.j2")
        for locale in {str(c["locale"]) for c in contexts}
    }
    began = time.perf_counter()
    for context in contexts:
        templates[str(context["locale"])].render(context)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the best counts")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = write_campaign(Path(folder))
        ours = []
        for _ in range(arguments.repeat):
            plan_module._measure.cache_clear()  # every run starts cold: no counts carried over
            render._tag_link.cache_clear()
            began = time.perf_counter()
            plan = load_plan(path)
            ours.append(time.perf_counter() - began)
        contexts: list[dict[str, object]] = [
            {
                "greeting": "Hello",
                "topic": "safe and regular migration",
                "local_time": datetime.fromisoformat(post.local_time.isoformat()),
                "link": "https://www.iom.int/",
                "hashtags": ["SafeMigration", "GCM"],
                "locale": post.locale,
                "platform": post.platform,
                "audience": {"name": post.audience, "description": ""},
                "_utm": render.UtmDefaults(source=None, medium="social", campaign="bench"),
            }
            for post in plan.posts
        ]
        bare = []
        for _ in range(arguments.repeat):
            render._tag_link.cache_clear()
            bare.append(baseline(Path(folder), contexts))
    posts = len(plan.posts)
    our_rate, bare_rate = posts / min(ours), posts / min(bare)
    print(f"posts: {posts}")
    print(f"ours (load, schedule, render, count, ids): {our_rate:,.0f} posts/s")
    print(f"baseline (bare sandboxed Jinja2 render):  {bare_rate:,.0f} posts/s")
    print(f"ratio: {our_rate / bare_rate:.2f} (target >= 0.5)")


if __name__ == "__main__":
    main()
