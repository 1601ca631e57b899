"""The shipped campaigns delivered end to end, as a new user would try them before going live.

Each campaign file is copied with its channels pointed at local servers (the fakes of
tests/fakes, the real Bluesky PDS) and its schedule moved to a few seconds after the launch
(tests/fixtures/rehearsal.py says exactly what changes), then driven with the real commands in
real processes: `campaign validate`, `campaign channels check`, `campaign run --until-done`,
`campaign status`, `campaign retry`. What arrived is read back from each server's own records:
every post once, with the text its preview showed, in its audience's language, its links and
hashtags marked in UTF-8 bytes on Bluesky.

Why launch-relative times rather than a clock under the test's control: the posts are due from
18 December 2026 to March 2027, and `campaign run` is what a user runs; `after:` entries are
the product's own way to time posts from the launch (config/demo.yaml), so the whole run is the
user's, with no hook into the processes. The price: one post per schedule entry (occurrence 0)
instead of every recurrence, and no quiet hours.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import unicodedata
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from campaign.locales import language_of
from campaign.post import Post
from tests.fixtures.celery import eventually
from tests.fixtures.rehearsal import Rehearsal, rehearsal
from tests.reference.bluesky_pds import BlueskyPds

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ["safe-migration", "climate-migration"]
# (message, audience, locale, channel): one post of the rehearsal
Key = tuple[str, str, str, str]


class Shell:
    """The `campaign` command run in a folder of its own, as a user runs it: the rehearsal's
    credentials in the environment, the embedded store in folder/data, no settings inherited."""

    def __init__(self, folder: Path, credentials: Mapping[str, str]) -> None:
        self.folder = folder
        (folder / ".env").touch()  # the settings file is this folder's, not one found above
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGN_")}
        self.env |= {"CAMPAIGN_DATA_DIR": str(folder / "data"), **credentials}
        self.logs = 0

    def __call__(self, *args: str | Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "campaign", *map(str, args)],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self, *args: str | Path) -> tuple[subprocess.Popen[str], Path]:
        """A long-running command in the background; its output goes to the returned file."""
        self.logs += 1
        log = self.folder / f"command-{self.logs}.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "campaign", *map(str, args)],
                cwd=self.folder,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
            )
        return process, log

    def status(self, campaign: str) -> dict[str, Any]:
        """`campaign status CAMPAIGN --all --format json`: the campaign's every post."""
        answer = self("status", campaign, "--all", "--format", "json")
        assert answer.returncode == 0, answer.stderr
        report: dict[str, Any] = json.loads(answer.stdout)["campaigns"][0]
        return report


def said(answer: subprocess.CompletedProcess[str]) -> str:
    return f"exit {answer.returncode}\n{answer.stdout}\n{answer.stderr}"


def by_key(report: dict[str, Any]) -> dict[Key, dict[str, Any]]:
    """The status report's posts by (message, audience, locale, channel), each key once."""
    posts = report["sent"]
    keys = [(p["message"], p["audience"], p["locale"], p["channel"]) for p in posts]
    assert len(set(keys)) == len(keys), "a post is listed twice"
    return dict(zip(keys, posts, strict=True))


def key_of(post: Post) -> Key:
    return (post.message, post.audience, post.locale, post.channel)


# -- what the servers recorded, per platform ------------------------------------------------


def check_telegram(run: Rehearsal, listed: dict[Key, dict[str, Any]]) -> int:
    """Each Telegram post is one message in its channel's chat, with the text as sent."""
    telegram = run.servers.telegram
    found = {(m.chat_id, m.message_id): m for m in telegram.messages}
    posts = run.expected_on("telegram")
    for post in posts:
        url = listed[key_of(post)]["url"]
        where = re.fullmatch(r"https://t\.me/(\w+)/(\d+)", url)
        assert where is not None, url
        chat, message_id = where.groups()
        channel = run.channel(post.channel)
        assert f"@{chat}" == channel.account
        target = telegram.chat(f"@{chat}")
        assert target is not None
        message = found[(target.id, int(message_id))]
        assert message.sent_text == post.text
        # a text channel (the shipped default): no markup, so no entities the bot asked for
        assert (message.parse_mode, message.entities) == (None, ())
    assert len(telegram.messages) == len(posts), "a Telegram message arrived twice or unasked"
    return len(posts)


def check_facebook(run: Rehearsal, listed: dict[Key, dict[str, Any]]) -> int:
    """Each Facebook post is one post on its channel's Page, with the text as previewed."""
    facebook = run.servers.facebook
    found = {p.id: p for p in facebook.posts}
    posts = run.expected_on("facebook")
    for post in posts:
        entry = listed[key_of(post)]
        page_post = found[entry["remote_id"]]
        page = facebook.page(run.channel(post.channel).account or "")
        assert page is not None
        assert page_post.page_id == page.id
        assert page_post.message == post.text
        assert entry["url"] == "https://www.facebook.com/{}/posts/{}".format(
            *page_post.id.split("_")
        )
    assert len(facebook.posts) == len(posts), "a Page post arrived twice or unasked"
    return len(posts)


def check_x(run: Rehearsal, listed: dict[Key, dict[str, Any]]) -> int:
    """Each X post is one post of its channel's account, with the text as previewed."""
    assert run.servers.x is not None
    tweets = run.servers.x.tweets
    found = {t.id: t for t in tweets}
    posts = run.expected_on("x")
    for post in posts:
        entry = listed[key_of(post)]
        tweet = found[entry["remote_id"]]
        account = (run.channel(post.channel).account or "").lstrip("@")
        assert tweet.account == account
        assert tweet.text == post.text
        assert entry["url"] == f"https://x.com/{account}/status/{tweet.id}"
    assert len(tweets) == len(posts), "an X post arrived twice or unasked"
    return len(posts)


def check_mastodon(run: Rehearsal, listed: dict[Key, dict[str, Any]]) -> int:
    """Each Mastodon status is one status of its account, in the post's language."""
    statuses = run.servers.mastodon.statuses
    found = {s.id: s for s in statuses}
    posts = run.expected_on("mastodon")
    for post in posts:
        entry = listed[key_of(post)]
        status = found[entry["remote_id"]]
        assert (run.channel(post.channel).account or "").startswith(f"@{status.account}@")
        assert status.text == post.text
        assert status.language == language_of(post.locale)
        assert entry["url"] == status.url
    assert len(statuses) == len(posts), "a Mastodon status arrived twice or unasked"
    return len(posts)


def check_webhook(run: Rehearsal, listed: dict[Key, dict[str, Any]]) -> int:
    """Each webhook post is one signed delivery naming the post, its locale and its text."""
    deliveries = {d.id: d for d in run.servers.webhook.deliveries}
    posts = run.expected_on("webhook")
    for post in posts:
        entry = listed[key_of(post)]
        document = deliveries[entry["remote_id"]].document
        assert document["post_id"] == entry["id"]
        assert (document["text"], document["locale"]) == (post.text, post.locale)
    assert len(deliveries) == len(posts), "a webhook post arrived twice or unasked"
    return len(posts)


def check_bluesky(run: Rehearsal, listed: dict[Key, dict[str, Any]]) -> int:
    """Each Bluesky post is one record in its account's repository on the real PDS, read back
    with getRecord: the text as previewed, `langs` the post's locale, every link and hashtag a
    facet whose byte range selects exactly its text."""
    pds = run.servers.pds
    posts = run.expected_on("bluesky")
    per_repo: Counter[str] = Counter()
    for post in posts:
        entry = listed[key_of(post)]
        account = run.servers.bluesky[post.channel]
        assert pds is not None
        did, collection, rkey = entry["remote_id"].removeprefix("at://").split("/")
        assert (did, collection) == (account.did, "app.bsky.feed.post")
        assert entry["url"] == f"https://bsky.app/profile/{account.handle}/post/{rkey}"
        answer = requests.get(
            pds.xrpc("com.atproto.repo.getRecord"),
            params={"repo": did, "collection": collection, "rkey": rkey},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        record = answer.json()["value"]
        assert record["text"] == post.text
        assert record["langs"] == [post.locale]
        assert record["createdAt"] == entry["scheduled_at"]  # the same bytes on every try
        assert facets_of(record) == marks_in(post.text), post.text
        per_repo[did] += 1
    for did, count in per_repo.items():
        assert pds is not None
        listing = requests.get(
            pds.xrpc("com.atproto.repo.listRecords"),
            params={"repo": did, "collection": "app.bsky.feed.post", "limit": "100"},
            timeout=30,
        )
        assert len(listing.json()["records"]) == count, "a Bluesky record was made twice"
    return len(posts)


def arrived(run: Rehearsal) -> int:
    """Posts on the fake platforms so far."""
    servers = run.servers
    return sum(
        (
            len(servers.telegram.messages),
            len(servers.facebook.posts),
            len(servers.mastodon.statuses),
            len(servers.webhook.deliveries),
            len(servers.x.tweets) if servers.x is not None else 0,
        )
    )


CHECKS: dict[str, Callable[[Rehearsal, dict[Key, dict[str, Any]]], int]] = {
    "telegram": check_telegram,
    "facebook": check_facebook,
    "x": check_x,
    "mastodon": check_mastodon,
    "webhook": check_webhook,
    "bluesky": check_bluesky,
}


# -- Bluesky facets, checked against marks found here, independently of the client ---------

Mark = tuple[str, str, str]  # (kind, the text the byte range selects, its link or tag)


def facets_of(record: dict[str, Any]) -> set[Mark]:
    """Each facet of a record as what its byte range selects in the UTF-8 text."""
    data = record["text"].encode("utf-8")
    marks = set()
    for facet in record.get("facets", []):
        index = facet["index"]
        shown = data[index["byteStart"] : index["byteEnd"]].decode("utf-8")  # whole characters
        (feature,) = facet["features"]
        kind = feature["$type"].removeprefix("app.bsky.richtext.facet#")
        marks.add((kind, shown, feature["uri"] if kind == "link" else feature["tag"]))
    return marks


_LINK = re.compile(r"https?://\S+")
_HASHTAG = re.compile(r"(?<!\S)#(\S+)")


def marks_in(text: str) -> set[Mark]:
    """The links and hashtags a reader sees in `text`: a link runs to the next space, without
    final punctuation; a hashtag is `#` after a space or at the start, without final
    punctuation, and not only digits."""
    marks: set[Mark] = set()
    for match in _LINK.finditer(text):
        link = match[0].rstrip(".,;:!?")
        marks.add(("link", link, link))
    for match in _HASHTAG.finditer(text):
        tag = match[1]
        while tag and unicodedata.category(tag[-1]).startswith("P"):
            tag = tag[:-1]
        if tag and not tag.isdigit():
            marks.add(("tag", f"#{tag}", tag))
    return marks


def template_locale(post: Post) -> str:
    """The language the post's template is written in, from its file name
    (`<audience>.<locale>.<platform>.j2` and its shorter forms)."""
    parts = Path(post.template).name.removesuffix(".j2").split(".")
    rest = [p for p in parts if p not in (post.audience, post.platform)]
    assert len(rest) == 1, post.template
    return rest[0]


# -- the tests ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_campaign_reaches_every_platform_once_in_its_audiences_languages(
    name: str, tmp_path: Path, bluesky_pds: BlueskyPds
) -> None:
    # Given the shipped campaign, its channels pointed at local servers and its posts due
    # seconds after the launch
    with rehearsal(ROOT / "config" / f"{name}.yaml", tmp_path, bluesky_pds) as run:
        shell = Shell(tmp_path, run.env)
        slug = run.campaign.campaign
        valid = shell("validate", run.file)
        assert valid.returncode == 0, said(valid)

        # When the user checks the channels
        checked = shell("channels", "check", run.file, "--format", "json")

        # Then each channel is reported, and every one that can be checked without posting is ok
        assert checked.returncode == 0, said(checked)
        report = {c["channel"]: c["status"] for c in json.loads(checked.stdout)}
        assert report == {
            channel: "unchecked" if run.channel(channel).platform == "webhook" else "ok"
            for channel in run.campaign.channels
        }

        # When the campaign is run until every post is done
        done = shell("run", run.file, "--until-done", timeout=100)

        # Then every post is sent, and `campaign status` lists where each one is
        assert done.returncode == 0, said(done)
        assert f"{slug}: sent {len(run.expected)}\n" in done.stdout, said(done)
        status = shell.status(slug)
        assert status["counts"]["sent"] == len(run.expected)
        assert status["attention"] == status["problems"] == []
        listed = by_key(status)
        assert set(listed) == {key_of(post) for post in run.expected}
        for post in run.expected:
            entry = listed[key_of(post)]
            assert entry["state"] == "sent"
            assert entry["url"] or post.platform == "webhook", entry  # a webhook has no page
            assert entry["remote_id"]

        # And each post arrived once, with its previewed text, written in its post's language,
        # which is one of its audience's
        for post in run.expected:
            assert post.locale in run.campaign.audiences[post.audience].locales
            assert template_locale(post) == post.locale, "a fallback to another language"
        arrived = {
            platform: check(run, listed)
            for platform, check in CHECKS.items()
            if run.expected_on(platform)
        }
        assert sum(arrived.values()) == len(run.expected)
        print(f"{slug}: {arrived}")

        # And running it again sends nothing twice
        again = shell("run", run.file, "--until-done")
        assert again.returncode == 0, said(again)
        for platform, check in CHECKS.items():
            if run.expected_on(platform):
                check(run, listed)


@dataclass(frozen=True)
class Revocation:
    """How a platform stops taking a channel's token, and the one its owner reconnects with."""

    channel: str  # the climate-migration channel it happens to
    variable: str  # the variable its token is in
    revoke: Callable[[Rehearsal], str]  # stops the token; returns the new one
    guidance: tuple[str, ...]  # what each failure must say


def _expire_page_token(run: Rehearsal) -> str:
    """The Page token expires; the owner makes a new one for the page."""
    facebook = run.servers.facebook
    facebook.expire(run.env["FACEBOOK_IOM_KYRGYZSTAN_PAGE_TOKEN"])
    page = facebook.page("IOMKyrgyzstan")
    assert page is not None
    facebook.grant("EAAGreconnectedPageToken0123456789", page)
    return "EAAGreconnectedPageToken0123456789"


def _revoke_bot_token(run: Rehearsal) -> str:
    """The bot's token is revoked in @BotFather, which gives the bot a new one."""
    return run.servers.telegram.revoke(run.env["TELEGRAM_IOM_KYRGYZSTAN_TOKEN"])


REVOCATIONS = {
    "facebook page token expired": Revocation(
        "facebook-iom-kyrgyzstan",
        "FACEBOOK_IOM_KYRGYZSTAN_PAGE_TOKEN",
        _expire_page_token,
        ("FACEBOOK_IOM_KYRGYZSTAN_PAGE_TOKEN", "expired", "reconnect the page"),
    ),
    "telegram bot token revoked": Revocation(
        "telegram-iom-kyrgyzstan",
        "TELEGRAM_IOM_KYRGYZSTAN_TOKEN",
        _revoke_bot_token,
        ("TELEGRAM_IOM_KYRGYZSTAN_TOKEN", "revoked", "@BotFather"),
    ),
}


@pytest.mark.parametrize("case", list(REVOCATIONS))
def test_a_token_lost_mid_campaign_stops_only_its_channel_until_reconnected(
    case: str, tmp_path: Path
) -> None:
    revocation = REVOCATIONS[case]

    # Given the climate campaign running: its first message out at once, the rest ten
    # seconds later
    def seconds(order: int) -> int:
        return 2 if order == 0 else 12 + order

    with rehearsal(ROOT / "config" / "climate-migration.yaml", tmp_path, seconds=seconds) as run:
        shell = Shell(tmp_path, run.env)
        slug = run.campaign.campaign
        first = min(run.expected, key=lambda p: p.scheduled_at).message
        out_first = [p for p in run.expected if p.message == first]
        process, log = shell.start("run", run.file, "--until-done")
        try:
            eventually(
                lambda: arrived(run) == len(out_first),
                30,
                f"the first message's {len(out_first)} posts on their platforms",
            )

            # When the channel's token stops working before the next posts are due
            new_token = revocation.revoke(run)
            process.wait(timeout=60)
        finally:
            process.kill()
            process.wait()
        output = log.read_text()

        # Then the run ends saying posts need a look, and only that channel's later posts failed
        assert process.returncode == 1, output
        assert "some posts need a look: campaign status" in output
        later = [p for p in run.expected if p.message != first]
        lost = {key_of(p) for p in later if p.channel == revocation.channel}
        assert lost
        status = shell.status(slug)
        assert {(p["message"], p["audience"], p["locale"], p["channel"]) for p in
                status["problems"]} == lost  # fmt: skip
        assert status["counts"]["sent"] == len(run.expected) - len(lost)
        assert all(p["state"] == "failed" for p in status["problems"])

        # And each failure says what happened and what to do, naming the variable, never the
        # token; the channel is listed as needing its account reconnected
        for problem in status["problems"]:
            for words in revocation.guidance:
                assert words in problem["error"], problem["error"]
        assert [(a["channel"], a["needs"], a["posts"]) for a in status["attention"]] == [
            (revocation.channel, "reconnect the account", len(lost))
        ]
        shown = shell("status", slug)
        assert f"! {revocation.channel}: reconnect the account ({len(lost)} post(s) failed)" in (
            shown.stdout
        )
        secret = run.env[revocation.variable]
        assert secret not in output + shown.stdout + json.dumps(status)

        # When the owner reconnects the account and retries the channel's posts
        shell.env[revocation.variable] = new_token
        checked = shell("channels", "check", run.file, "--channel", revocation.channel)
        assert checked.returncode == 0, said(checked)
        retried = shell("retry", slug, "--channel", revocation.channel, "--yes")
        assert retried.returncode == 0, said(retried)
        assert f"retried {len(lost)} post(s)" in retried.stdout
        again = shell("run", run.file, "--until-done")

        # Then they are sent, once, and every channel has all its posts
        assert again.returncode == 0, said(again)
        status = shell.status(slug)
        assert status["counts"]["sent"] == len(run.expected)
        assert status["attention"] == []
        listed = by_key(status)
        for platform, check in CHECKS.items():
            if run.expected_on(platform):
                check(run, listed)
