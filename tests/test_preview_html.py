"""campaign.html: the self-contained preview page, as markup and in headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from campaign.html import render_html

HOSTILE = "</script><script>alert(1)</script>"
ASSETS = Path(__file__).parents[1] / "campaign" / "assets"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


def a_post(number: int = 1, **fields: Any) -> dict[str, Any]:
    """One post as `campaign preview --format json` writes it; `fields` override the defaults."""
    post: dict[str, Any] = {
        "id": f"post{number:016d}",
        "campaign": "winter-help",
        "message": "welcome",
        "audience": "migrants-kg",
        "locale": "ky",
        "channel": "kg-mastodon",
        "platform": "mastodon",
        "scheduled_at": "2026-12-18T04:00:00Z",
        "local_time": "2026-12-18T10:00:00+06:00",
        "timezone": "Asia/Bishkek",
        "text": "Саламатсызбы! Кышкы жардам борбору ачык.",
        "length": 41,
        "limit": 500,
        "warnings": [],
    }
    post.update(fields)
    return post


def a_campaign() -> list[dict[str, Any]]:
    """Five posts over two local days, three audiences, four platforms, one over its limit."""
    return [
        a_post(1),
        a_post(
            2,
            locale="ru",
            channel="kg-telegram",
            platform="telegram",
            limit=4096,
            text="Центр зимней помощи открыт.\nhttps://example.org/help?lang=ru",
        ),
        a_post(
            3,
            audience="diaspora-rs",
            locale="sr",
            channel="rs-bluesky",
            platform="bluesky",
            scheduled_at="2026-12-18T09:00:00Z",
            local_time="2026-12-18T10:00:00+01:00",
            timezone="Europe/Belgrade",
            text="Центар за зимску помоћ је отворен. 🎄",
            limit=300,
        ),
        a_post(
            4,
            audience="volunteers",
            locale="en",
            channel="main-x",
            platform="x",
            scheduled_at="2026-12-19T10:00:00Z",
            local_time="2026-12-19T10:00:00+00:00",
            timezone="Europe/London",
            text="We need volunteers! " * 16,
            length=320,
            limit=280,
            warnings=["320 characters, over X's limit of 280 by 40"],
        ),
        a_post(
            5,
            audience="volunteers",
            locale="en",
            channel="press-outbox",
            platform="outbox",
            scheduled_at="2026-12-19T08:00:00Z",
            local_time="2026-12-19T08:00:00+00:00",
            timezone="Europe/London",
            text="Press note.",
            limit=None,
        ),
    ]


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    parent: Node | None = None
    children: list[Node | str] = field(default_factory=list)

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def walk(self) -> Iterator[Node]:
        for child in self.children:
            if isinstance(child, Node):
                yield child
                yield from child.walk()

    def find_all(self, tag: str, cls: str | None = None) -> list[Node]:
        return [
            n
            for n in self.walk()
            if n.tag == tag and (cls is None or cls in n.attrs.get("class", "").split())
        ]

    def by_id(self, ident: str) -> Node:
        (node,) = (n for n in self.walk() if n.attrs.get("id") == ident)
        return node

    def ancestors(self) -> Iterator[Node]:
        node = self.parent
        while node is not None:
            yield node
            node = node.parent


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.current = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs}, self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_endtag(self, tag: str) -> None:
        node: Node | None = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data: str) -> None:
        self.current.children.append(data)


def parse(document: str) -> Node:
    builder = _TreeBuilder()
    builder.feed(document)
    builder.close()
    return builder.root


def cards(dom: Node) -> list[Node]:
    return dom.find_all("article", "card")


# --- markup -----------------------------------------------------------------------------------


def test_hostile_text_does_not_produce_executable_markup() -> None:
    # Given a post whose every free-text field tries to close the script element and open another
    posts = [
        a_post(
            text=f"{HOSTILE} <img src=x onerror=alert(2)> \"quotes\" 'single' & ampersand",
            channel=HOSTILE,
            audience='"><script>alert(3)</script>',
            message=HOSTILE,
            warnings=[HOSTILE],
        )
    ]

    # When the page is rendered, with a hostile title and campaign too
    document = render_html(posts, title=HOSTILE, campaign=HOSTILE)
    dom = parse(document)

    # Then the only scripts are the page's own and the inert JSON copy of the posts
    scripts = dom.find_all("script")
    assert [s.attrs.get("type") for s in scripts] == ["application/json", None]
    assert scripts[1].text() == (ASSETS / "preview.js").read_text(encoding="utf-8")
    assert json.loads(scripts[0].text()) == posts
    assert "<script>alert" not in document
    assert "</script><script>" not in document
    # no element anywhere carries an event handler or an image
    assert not [n for n in dom.walk() if any(a.startswith("on") for a in n.attrs)]
    assert not dom.find_all("img")
    # and the reader sees the text exactly as it will be posted
    (card,) = cards(dom)
    assert card.find_all("div", "text")[0].text() == posts[0]["text"]
    assert card.attrs["data-audience"] == posts[0]["audience"]
    assert HOSTILE in card.find_all("ul", "warnings")[0].text()
    assert dom.find_all("title")[0].text().startswith(HOSTILE)


def test_json_copy_escapes_markup_characters() -> None:
    # Given a text with every character that could end a script element or open a comment
    posts = [a_post(text="a</script><!-- b & c > d \u2028")]

    # When rendered
    document = render_html(posts, title="t", campaign="c")

    # Then the JSON copy holds them only as \u escapes, and still decodes to the same posts
    start = document.index('<script type="application/json" id="campaign-posts">')
    payload = document[start:].split(">", 1)[1].split("</script>", 1)[0]
    assert not set("<>&") & set(payload)
    assert "\\u003c/script\\u003e" in payload
    assert json.loads(payload) == posts


def test_document_references_nothing_external() -> None:
    # Given posts whose texts carry links
    posts = a_campaign()
    posts[0]["text"] = (
        "Info: https://example.org/help?lang=ky&x=1. Also (https://example.org/a_(b))"
    )
    linked = {"https://example.org/help?lang=ky&x=1", "https://example.org/a_(b)"}
    linked.add("https://example.org/help?lang=ru")

    # When rendered
    document = render_html(posts, title="Winter help", campaign="winter-help")
    dom = parse(document)

    # Then nothing is loaded: no external script, stylesheet, import, font or image
    for forbidden in ("<script src", "<link", "@import", "url(", "<img", "<iframe", "<object"):
        assert forbidden not in document.lower()
    assert not [n for n in dom.walk() if "src" in n.attrs]
    # the only hrefs are in-page icon references and the links inside post texts
    for node in (n for n in dom.walk() if "href" in n.attrs):
        if node.tag == "use":
            assert node.attrs["href"].startswith("#i-")
        else:
            assert node.tag == "a"
            assert any("text" in a.attrs.get("class", "").split() for a in node.ancestors())
            assert node.attrs["href"] in linked
            assert node.attrs["rel"] == "noopener noreferrer nofollow"
    assert {a.attrs["href"] for a in dom.find_all("a")} == linked
    # and the page's policy forbids any other source, should something slip through
    (csp,) = (m for m in dom.find_all("meta") if m.attrs.get("http-equiv"))
    assert csp.attrs["content"].startswith("default-src 'none';")


def test_links_keep_trailing_punctuation_outside_and_only_http_is_linked() -> None:
    # Given links followed by punctuation, and schemes that must never become links
    text = "See https://example.org/x. Or javascript:alert(1) or data:text/html,hi"

    # When rendered
    dom = parse(render_html([a_post(text=text)], title="t", campaign="c"))

    # Then only the http link is an anchor, without the full stop, and the text is unchanged
    assert [a.attrs["href"] for a in dom.find_all("a")] == ["https://example.org/x"]
    assert cards(dom)[0].find_all("div", "text")[0].text() == text


def test_every_post_appears_once_with_its_facts() -> None:
    # Given a campaign
    posts = a_campaign()

    # When rendered
    dom = parse(render_html(posts, title="Winter help", campaign="winter-help"))

    # Then each post has one card carrying its id, audience, locale and platform
    by_id = {c.attrs["data-id"]: c for c in cards(dom)}
    assert sorted(by_id) == sorted(p["id"] for p in posts)
    for post in posts:
        card = by_id[post["id"]]
        assert (card.attrs["data-audience"], card.attrs["data-locale"]) == (
            post["audience"],
            post["locale"],
        )
        assert card.attrs["data-platform"] == post["platform"]
        assert post["timezone"] in card.text()
        assert post["channel"] in card.text()
        assert card.find_all("div", "text")[0].attrs["lang"] == post["locale"]
    assert dom.by_id("count").text() == "5 of 5 posts shown"


def test_text_whitespace_and_line_breaks_are_kept() -> None:
    # Given a text with blank lines, indentation and hashtags
    text = "Line one\n\n    indented #WinterHelp @team@example.org\ttab  two  spaces\n"

    # When rendered
    dom = parse(render_html([a_post(text=text)], title="t", campaign="c"))

    # Then the text content is byte-for-byte the post's text
    assert cards(dom)[0].find_all("div", "text")[0].text() == text


def test_posts_are_grouped_by_local_day_in_publishing_order() -> None:
    # Given posts on two local days, listed out of order
    posts = a_campaign()[::-1]

    # When rendered
    dom = parse(render_html(posts, title="t", campaign="c"))

    # Then each day lists its posts by their UTC instant
    days = dom.find_all("section", "day")
    assert [d.attrs["data-day"] for d in days] == ["2026-12-18", "2026-12-19"]
    assert [[c.attrs["data-id"] for c in cards(d)] for d in days] == [
        ["post0000000000000001", "post0000000000000002", "post0000000000000003"],
        ["post0000000000000005", "post0000000000000004"],
    ]
    assert "Friday, 18 December 2026" in days[0].text()


def test_length_bar_is_red_only_when_over_the_limit() -> None:
    # Given posts under, near, over and without a limit
    posts = [
        a_post(1, length=100, limit=500),
        a_post(2, length=290, limit=300),
        a_post(3, length=320, limit=280, warnings=["too long"]),
        a_post(4, length=50, limit=None),
    ]

    # When rendered
    dom = parse(render_html(posts, title="t", campaign="c"))

    # Then each length bar says where the post stands
    levels = [c.find_all("div", "length")[0].attrs["class"].split()[1] for c in cards(dom)]
    assert levels == ["ok", "near", "over", "none"]
    over = cards(dom)[2]
    assert "over" in over.attrs["class"].split()
    assert "320 / 280" in over.text()
    assert over.find_all("rect", "bar-fill")[0].attrs["width"] == "100.0"
    assert "too long" in over.find_all("ul", "warnings")[0].text()


def test_empty_post_list_renders_a_friendly_page() -> None:
    # Given no posts
    # When rendered
    dom = parse(render_html([], title="Winter help", campaign="winter-help"))

    # Then the page says so, with the campaign's name and no cards or filters
    assert not cards(dom)
    assert "No posts to preview" in dom.text()
    assert "Winter help" in dom.find_all("h1")[0].text()
    assert not [n for n in dom.walk() if n.attrs.get("id") == "filters"]


# --- in a browser -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of headless Chromium; missing fails in CI (which installs it) and skips elsewhere."""
    binary = shutil.which("chromium") or (
        "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None
    )
    if binary is None:
        message = "chromium is not installed (Debian package 'chromium')"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return binary


@pytest.fixture
def open_page(chromium: str, tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Writes a rendered campaign to disk and runs Chromium on it with the given extra flags."""
    page = tmp_path / "preview.html"
    page.write_text(render_html(a_campaign(), title="Winter help", campaign="winter-help"))

    def run(*flags: str, fragment: str = "") -> subprocess.CompletedProcess[str]:
        command = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            *flags,
            page.as_uri() + (f"#{fragment}" if fragment else ""),
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        return done

    return run


@pytest.mark.slow
@pytest.mark.timeout(100)
@pytest.mark.parametrize(
    ("fragment", "visible", "count"),
    [
        ("", [1, 2, 3, 4, 5], "5 of 5 posts shown"),
        ("audience=migrants-kg", [1, 2], "2 of 5 posts shown"),
        ("audience=migrants-kg&locale=ky", [1], "1 of 5 posts shown"),
        ("platform=telegram,x", [2, 4], "2 of 5 posts shown"),
        ("audience=volunteers&warnings=1", [4], "1 of 5 posts shown"),
        ("audience=nobody", [], "0 of 5 posts shown"),
    ],
)
def test_url_fragment_filters_the_cards(
    open_page: Callable[..., subprocess.CompletedProcess[str]],
    fragment: str,
    visible: list[int],
    count: str,
) -> None:
    # Given the preview opened with a filter in its URL fragment
    # When Chromium has run the page's script
    dom = parse(open_page("--dump-dom", fragment=fragment).stdout)

    # Then only the matching cards are visible, and the count says how many
    shown = [c.attrs["data-id"] for c in cards(dom) if "hidden" not in c.attrs]
    assert sorted(shown) == [a_post(n)["id"] for n in visible]
    assert dom.by_id("count").text() == count
    assert "hidden" not in dom.by_id("filters").attrs
    # a day with nothing left to show is hidden, and an empty result says so
    days_shown = [d for d in dom.find_all("section", "day") if "hidden" not in d.attrs]
    assert len(days_shown) == len({1 if n <= 3 else 2 for n in visible})
    assert ("hidden" in dom.by_id("no-match").attrs) == bool(visible)


@pytest.mark.slow
@pytest.mark.timeout(100)
def test_screenshot_is_a_real_picture(
    open_page: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    # Given the preview
    shot = tmp_path / "preview.png"

    # When Chromium takes a screenshot of it
    open_page(f"--screenshot={shot}", "--window-size=1280,1600", "--hide-scrollbars")

    # Then a PNG of the window's size was written, with far more than a blank page's bytes
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1280, 1600)
    assert len(data) > 50_000
    assert re.search(rb"IDAT", data)
