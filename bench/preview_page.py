"""The HTML preview in headless Chromium: file size, time to open, time per filter click.

For the flagship campaign (394 posts) and the 10,000-post campaign of bench/preview.py, writes
the page as `campaign preview --format html` does, then in a fresh Chromium tab (1366x900):
  - open: from the navigation to the first frame drawn after the page's script is done
    (wall clock, best of --repeat; the in-page figure is from the navigation's start);
  - filter: from a click on a filter to the next frame drawn (median and worst of several
    clicks: an audience off, a language only, a text search, "only with warnings", show all);
  - views: the time to switch to the calendar and to the language matrix.
Targets (issue 10): open < 2 s and filter < 100 ms at 10,000 posts.

    python bench/preview_page.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the Chromium driver and the 10,000-post campaign are shared

from bench.preview import write_campaign  # noqa: E402
from campaign.html import Page, render_html  # noqa: E402
from campaign.plan import build_plan  # noqa: E402
from tests.fixtures.chromium import Browser, Tab, chromium_binary  # noqa: E402

# After an action, wait for the next frame to be drawn (a task queued from the frame's
# animation callback runs once that frame is done).
NEXT_FRAME = "new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)))"
FILTERS = (
    ("one audience off", "document.querySelector('input[data-key=audience]').click()"),
    ("every audience back", "document.querySelector('input[data-key=audience]').click()"),
    (
        "one language only",
        "location.hash = 'locale=' + document.querySelector('input[data-key=locale]').value",
    ),
    ("show all", "document.getElementById('show-all').click()"),
    (
        "text search",
        "(() => { const s = document.getElementById('search'); s.value = 'the';"
        " s.dispatchEvent(new Event('input')); })()",
    ),
    ("only with warnings", "document.getElementById('only-warnings').click()"),
    ("show all again", "document.getElementById('show-all').click()"),
)


def page_for(campaign: Path, output: Path) -> tuple[int, int]:
    """Write the preview page of a campaign; its number of posts and its size in bytes."""
    plan = build_plan(campaign)
    document = render_html(
        Page(
            title=plan.campaign.title,
            campaign=plan.campaign.campaign,
            posts=plan.posts,
            routes=plan.routes,
            problems=[str(p) for p in plan.errors],
            template_root=plan.template_root,
        )
    )
    output.write_text(document, encoding="utf-8")
    return len(plan.posts), output.stat().st_size


def open_time(browser: Browser, url: str) -> tuple[float, float]:
    """Seconds from navigation to the first frame after the script is done (wall, in page)."""
    tab = browser.tab(1366, 900)
    began = time.perf_counter()
    tab.open(url)
    in_page = tab.evaluate(
        "new Promise((r) => requestAnimationFrame(() => setTimeout(() => r(performance.now()), 0)))"
    )
    wall = time.perf_counter() - began
    assert tab.evaluate("document.documentElement.dataset.ready") == "1", "the page did not start"
    tab.close()
    return wall, in_page / 1000


def timed(tab: Tab, action: str) -> float:
    """Milliseconds from running `action` in the page to the next frame drawn."""
    script = (
        "(async () => { const began = performance.now(); "
        f"{action}; await {NEXT_FRAME}; return performance.now() - began; }})()"
    )
    return float(tab.evaluate(script))


def measure(browser: Browser, url: str, repeat: int) -> dict[str, object]:
    opens = [open_time(browser, url) for _ in range(repeat)]
    tab = browser.tab(1366, 900)
    tab.open(url)
    tab.evaluate(NEXT_FRAME)
    filters = [timed(tab, action) for _ in range(repeat) for _, action in FILTERS]
    views = {
        view: timed(tab, f"document.getElementById('tab-{view}').click()")
        for view in ("calendar", "matrix", "timeline")
    }
    tab.close()
    return {
        "open": min(wall for wall, _ in opens),
        "open_in_page": min(page for _, page in opens),
        "filter_median": statistics.median(filters),
        "filter_worst": max(filters),
        "views": views,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the best counts")
    arguments = parser.parse_args()
    binary = chromium_binary()
    if binary is None:
        sys.exit("chromium is not installed (Debian package 'chromium')")
    with tempfile.TemporaryDirectory() as folder:
        large = Path(folder) / "large"
        large.mkdir()
        campaigns = [
            ("flagship", ROOT / "config" / "safe-migration.yaml"),
            ("10,000 posts", write_campaign(large)),
        ]
        browser = Browser(binary, timeout=120)
        try:
            for name, campaign in campaigns:
                page = Path(folder) / f"{campaign.stem}-{len(name)}.html"
                posts, size = page_for(campaign, page)
                figures = measure(browser, page.as_uri(), arguments.repeat)
                views = figures["views"]
                assert isinstance(views, dict)
                print(f"{name}: {posts:,} posts, {size / 1e6:.2f} MB ({size / posts:,.0f} B/post)")
                print(
                    f"  open: {figures['open']:.2f} s to the first frame "
                    f"({figures['open_in_page']:.2f} s in the page; target < 2 s)"
                )
                print(
                    f"  filter: median {figures['filter_median']:.0f} ms, "
                    f"worst {figures['filter_worst']:.0f} ms (target < 100 ms)"
                )
                print(
                    "  switch view: "
                    + ", ".join(f"{view} {ms:.0f} ms" for view, ms in views.items())
                )
        finally:
            browser.close()


if __name__ == "__main__":
    main()
