"""Write a small demo campaign whose posts fall due in the next minute, to try delivery locally.

    python scripts/demo_campaign.py --out /tmp/demo [--in 20] [--every 10] [--api-url URL]

It writes DIR/mastodon-demo.yaml (campaign `mastodon-demo`, not to be confused with
config/demo.yaml's `demo`: three posts, in Kyrgyz, Russian and English, at each of three times)
and its templates, for a Mastodon-compatible server at --api-url (the local one from the tests by
default), with the token read from DEMO_MASTODON_TOKEN. Times are written in Asia/Bishkek local
time, like a real campaign file, so the run also shows the local-to-UTC conversion.
"""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ZONE = ZoneInfo("Asia/Bishkek")
FILE = "mastodon-demo.yaml"
WHEN = "{{ local_time.strftime('%H:%M:%S') }}"
TEXTS = {
    "ky": "Коопсуз миграция: жөнөй электе документтериңизди текшериңиз. " + WHEN,
    "ru": "Безопасная миграция: проверьте документы до отъезда. " + WHEN,
    "en": "Safe migration: check your documents before you leave. " + WHEN,
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True, help="folder to write the campaign in")
    parser.add_argument(
        "--in", dest="delay", type=int, default=20, help="seconds to the first post"
    )
    parser.add_argument("--every", type=int, default=10, help="seconds between the three times")
    parser.add_argument(
        "--api-url", default="http://127.0.0.1:8081", help="Mastodon-compatible server"
    )
    arguments = parser.parse_args()

    first = datetime.now(ZONE).replace(microsecond=0) + timedelta(seconds=arguments.delay)
    times = [first + timedelta(seconds=arguments.every * n) for n in range(3)]
    schedule = "".join(f'      - at: "{t:%Y-%m-%d %H:%M:%S}"\n' for t in times)

    arguments.out.mkdir(parents=True, exist_ok=True)
    (arguments.out / FILE).write_text(
        f"""\
# A demo campaign written by scripts/demo_campaign.py at {datetime.now(ZONE):%Y-%m-%d %H:%M:%S %Z}.
campaign: mastodon-demo
title: Safe Migration demo
timezone: Asia/Bishkek
start: {first.date()}
end: {(first + timedelta(days=1)).date()}
templates: templates
audiences:
  migrants-kg:
    locales: [ky, ru, en]
    channels: [mastodon-local]
channels:
  mastodon-local:
    platform: mastodon
    api_url: "{arguments.api_url}"
    credentials: DEMO_MASTODON_TOKEN
messages:
  documents:
    template: documents
    schedule:
{schedule}""",
        encoding="utf-8",
    )
    folder = arguments.out / "templates" / "documents"
    folder.mkdir(parents=True, exist_ok=True)
    for locale, text in TEXTS.items():
        (folder / f"{locale}.j2").write_text(text + "\n", encoding="utf-8")
    print(
        f"wrote {arguments.out / FILE}: posts due at "
        + ", ".join(f"{t:%H:%M:%S}" for t in times)
        + " Asia/Bishkek"
    )


if __name__ == "__main__":
    main()
