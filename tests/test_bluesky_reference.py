"""Bluesky's limits against the real PDS: our verdict is the server's on every boundary text.

Each text sits at 300 graphemes or 3,000 UTF-8 bytes, give or take one, in scripts whose
clusters changed between Unicode versions (Khmer, Myanmar, Balinese, Javanese, Tai Tham, Indic
conjuncts), emoji ZWJ sequences and flags. Each is posted with createRecord; the server accepts
it (200) or refuses it as too long (400 InvalidRequest), and we must have said the same.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

import requests

from campaign.bluesky_text import as_posted
from campaign.counting import graphemes
from campaign.rules import bluesky_fits, measure
from tests.reference import corpus
from tests.reference.bluesky_pds import BlueskyPds

# Units that Unicode versions cut differently (first) or that take many bytes (then).
UNITS = [
    "ក្ក", "ស្ត្រី", "က္က", "မြန်", "ᬓ᭄ᬱ", "ꦏ꧀ꦱ", "ᨠ᩠ᨠ", "क्ष", "स्त्री", "ক্ষ", "ക്ഷ", "ශ්‍රී", "ཀྵ",
    "👨\u200d👩\u200d👧\u200d👦", "🧑🏽\u200d🤝\u200d🧑🏻", "🏳️\u200d🌈",
    "🇰🇬", "🇰🇬🇷", "👍🏽", "Кы", "a",
]  # fmt: skip
# Units of 10 or more UTF-8 bytes per grapheme, so 3,000 bytes come before 300 graphemes.
HEAVY_UNITS = [
    "👨\u200d👩\u200d👧\u200d👦", "🧑🏽\u200d🤝\u200d🧑🏻", "🏳️\u200d🌈", "👩🏾\u200d💻",
    "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",
]  # fmt: skip
FILLERS = ["a", "к", "ក", "🇰"]
POST = "app.bsky.feed.post"


def at_graphemes(unit: str, target: int, prefix: str = "") -> str:
    """`prefix` and repeats of `unit`, then fillers, to be exactly `target` graphemes for us."""
    size = graphemes.count(unit, "16.0")
    text = prefix + unit * max(0, (target - graphemes.count(prefix, "16.0")) // size - 2)
    while graphemes.count(text + unit, "16.0") <= target:
        text += unit
    for filler in FILLERS:  # each adds one grapheme, whatever precedes it
        while graphemes.count(text + filler, "16.0") <= target:
            text += filler
    return text


def at_bytes(unit: str, target: int) -> str:
    """Repeats of `unit`, then ASCII, to be exactly `target` UTF-8 bytes."""
    text = unit * (target // len(unit.encode()))
    return text + "a" * (target - len(text.encode()))


def boundary_texts() -> list[str]:
    """Texts at 299, 300 and 301 graphemes, and at 2,999, 3,000 and 3,001 bytes."""
    texts = [at_graphemes(unit, target) for unit in UNITS for target in (299, 300, 301)]
    texts += [at_bytes(unit, size) for unit in HEAVY_UNITS for size in (2999, 3000, 3001)]
    # and hard texts from the corpus, topped up to the grapheme limit
    chooser = random.Random(300)
    for text in corpus.texts(40, seed=300, longest=12):
        if graphemes.count(text, "16.0") < 290 and len(text.encode()) < 1500:
            unit = chooser.choice(UNITS)
            texts += [at_graphemes(unit, target, text) for target in (300, 301)]
    return texts


def test_the_pds_and_we_agree_on_every_boundary_text(bluesky_pds: BlueskyPds) -> None:
    # Given an account on the real PDS, and texts right at Bluesky's limits
    account = bluesky_pds.create_account()
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {account.access_jwt}"
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    texts = boundary_texts()
    assert len(texts) >= 100

    def accepts(text: str) -> bool:
        record = {"$type": POST, "text": text, "createdAt": now}
        response = session.post(
            bluesky_pds.xrpc("com.atproto.repo.createRecord"),
            json={"repo": account.did, "collection": POST, "record": record},
            timeout=30,
        )
        assert response.status_code in (200, 400), response.text
        if response.status_code == 400:  # refused for its length, nothing else
            assert response.json()["error"] == "InvalidRequest", response.text
            assert (
                "too big" in response.json()["message"] or "too long" in response.json()["message"]
            ), response.text
        return response.status_code == 200

    # When each is posted as written, and as our client posts it (long links shortened when it
    # does not fit as written)
    disagree = []
    for text in texts:
        # Then the server accepts exactly what we call within the limits, either way
        if accepts(text) != bluesky_fits(text):
            disagree.append(f"{text!r} as written: ours {bluesky_fits(text)}")
        posted = as_posted(text, bluesky_fits).text
        ours = measure(text, "bluesky")
        if posted != text and accepts(posted) != (not ours.violations):
            disagree.append(f"{text!r} as posted {posted!r}: ours {ours}")
    assert disagree == []
