"""Hard texts for the differential tests, generated with a fixed seed (same texts every run).

Each text is a random run of pieces drawn from the groups below, which aim at the places where
counting rules disagree: emoji of every kind and age, scripts whose grapheme clusters changed
between Unicode versions, combining marks and NFC, links of every shape, mentions, line breaks.
Some texts are padded to sit right at a platform's limit, where a one-off difference decides.
"""

from __future__ import annotations

import random

ZWJ, ZWNJ, VS15, VS16 = "\u200d", "\u200c", "\ufe0e", "\ufe0f"
SKIN_TONES = [chr(c) for c in range(0x1F3FB, 0x1F400)]

EMOJI = [
    "😷", "🙂", "👍", "👍🏽", "👍🏿", "✌", "✌️", "✌🏻", "☺", "☺️", "☺︎", "❤", "❤️", "❤\ufe0e",
    "©", "©️", "®", "™", "™️", "♟", "♟️", "‼", "‼️", "ℹ", "↔️", "⌚", "▶", "☀️", "⚽",
    "👨‍👩‍👧‍👦", "👨‍👩‍👧", "👩‍❤️‍👨", "👩‍❤‍👨", "👩‍❤️‍💋‍👩", "🧑‍🤝‍🧑", "🧑🏽‍🤝‍🧑🏻",
    "👩🏾‍💻", "👨‍⚕️", "👨‍⚕", "🧑‍⚕️", "👩‍🚀", "🧑‍🚀", "🧑🏿‍🌾", "👮‍♀️", "👮‍♀", "👮🏽‍♂️",
    "🏃‍♂️", "🏃🏻‍♀️", "🏃‍➡️", "🏋️‍♀️", "🏳️‍🌈", "🏳‍🌈", "🏳️‍⚧️", "🏴‍☠️", "👁‍🗨", "👁️‍🗨️",
    "🐦‍🔥", "🍋‍🟩", "🙂‍↔️", "🧑‍🧑‍🧒", "🐈‍⬛", "🐻‍❄️", "😶‍🌫️", "❤️‍🔥", "🫩", "🫆", "🪾",
    "🫜", "🪉", "🫟", "🫠", "🥹", "🫶🏼", "🧌", "🪿", "🫎", "🩷", "🦩", "🥲", "🦄", "🤌🏽",
    "🇰🇬", "🇽🇰", "🇷🇸", "🇦🇱", "🇺🇳", "🇪🇺", "🇦", "🇦🇦", "🇰🇬🇷", "🇿🇿",
    "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",
    "🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f",
    "🏴\U000e0075\U000e0073\U000e0074\U000e0078\U000e007f",
    "#️⃣", "#⃣", "1️⃣", "1⃣", "*️⃣", "🔟", "\ue50a", "\U0001f3fb", ZWJ, VS16, VS15,
    "👍" + VS16, "😷" + VS15, "👨" + ZWJ, ZWJ + "👩", "👨" + ZWJ + ZWJ + "👩",
    "🧔‍♂️", "🧔🏻‍♀️", "👩‍🦰", "👨🏿‍🦳", "🧑‍🦽", "🧑‍🦽‍➡️", "🦸🏽‍♀️", "🧜‍♂️", "🤼‍♀️",
]  # fmt: skip
CJK = [
    "故人西辞黄鹤楼", "한국어", "日本語のテキスト", "ｆｕｌｌｗｉｄｔｈ",
    "中文，标点。", "ㄅㄆ", "𠀀𪚥",
]  # fmt: skip
CYRILLIC = [
    "Кыргызстан", "ӨҮҢ өүң", "Добродошли, ђак", "е\u0301", "и\u0306", "ё", "е\u0308",
    "У\u0301мный", "Ҷ\u0301", "а\u0300\u0301\u0302", "ый\u0332",
]  # fmt: skip
ALBANIAN = ["Mirë se vini", "çështje", "Shqipëri", "e\u0308", "c\u0327", "Kosovë"]
LATIN = ["Hello", "safe migration", "e\u0301", "A\u030a", "n\u0303", "ﬁ", "Å", "ǅ", "ẞ"]
INDIC = [
    "क्ष", "त्र", "ज्ञ", "श्र", "क्\u200dष", "क्\u200cष", "क्‍", "स्त्री", "नमस्ते",
    "हिन्दी", "क़", "क\u093c", "ক্ষ", "বাংলা", "ક્ષ", "ଷ୍ଟ", "క్ష", "ക്ഷ", "ന്\u200d",
    "தமிழ்", "க்ஷ", "ಕ್ಷ", "ශ්‍රී", "ਕ੍ਸ਼", "ཀྵ", "ꯀ꯭ꯁ",
]  # fmt: skip
SOUTHEAST_ASIAN = [
    "ភាសាខ្មែរ", "ក្ក", "ស្ត្រី", "မြန်မာ", "က္က", "မ္ဘ", "ᬩᬮᬶ", "ᬓ᭄ᬱ", "ꦗꦮ", "ꦏ꧀ꦱ",
    "ภาษาไทย", "น้ำ", "กำ", "ພາສາລາວ", "ᨠ᩠ᨠ", "ᥐᥣ", "ꤊ꤭", "𑄇𑄴𑄇", "ꪀꪱ",
]  # fmt: skip
OTHER_SCRIPTS = [
    "العربية", "مَرْحَبًا", "\u0600\u0661", "עִבְרִית", "ελληνικά", "ά", "α\u0301",
    "ქართული", "Հայերեն", "አማርኛ", "ᄀ\u1161\u11a8", "\u1100\u1161", "가\u11a8",
    "\U00016d63\U00016d67", "\U000113c2\U000113b8", "\U00011b60", "\U0001e6e3",
]  # fmt: skip
PUNCTUATION = ["…", "№", "“quoted”", "–", "—", "‰", "′", "‹›", "«»", "•", "€", "₽", "‑"]
URLS = [
    "https://example.org", "https://iom.int/ru", "http://example.com:8080/x",
    "https://example.org/a?q=1&b=2", "https://en.wikipedia.org/wiki/Bishkek_(city)",
    "https://x.com/a_(b_(c))", "https://x.com/a!(b)", "https://x.com/path/.",
    "https://x.com/новости", "https://мвд.рф/news", "http://foobar.みんな/", "http://xn--ls8h.la/",
    "https://t.co/abc123XYZ", "http://t.co/pbY2NfTZ's", "https://t.co/" + "a" * 41,
    "https://example.org/" + "a" * 120, "iom.int", "www.example.com", "kyrgyzstan.iom.int/ru",
    "24.kg", "migrant.kg", "rts.rs", "foo.jp", "gov.kg", "gov.kg/ru", "www.gov.kg", "t.co",
    "twitch.tv", "vine.co", "example.рф", "пример.рф", "foo.xn--p1ai", "example.notatld",
    "file.txt", "e.g.", "aigul@example.com", "john.doe.gov@mail.com",
    "http://twitter_underscore.com", "http://-dash.com", "http://domain.com-more",
    "http://domain.com+more", "http://" + "a" * 64 + ".com", "-example.com", "_example.com",
    "http://localhost:8080", "https://example.org/page.", "(https://example.org/a)",
    "https://example.org/search?q=ала-тоо&x=1", "gemini://example.org/capsule",
    "ftp://example.org/file", "https://example.com/привет(мир)", "https://ex\u00adample.com",
    "https://ex☺ample.com", "https://example.com/?q=\U000e0041", "https://example.comfoo",
    "HTTPS://EXAMPLE.COM/A", "https://sub.domain.example.co.uk/a/b", "example.co.uk",
    "www.24.kg", "24.kg/ru", "https://24.kg", "Кыргызстанexample.com", "日本語example.com",
]  # fmt: skip
MENTIONS = [
    "@aigul", "@aigul@mastodon.social", "@bek@kg.social", "@user_name", "@a.b", "#GCM",
    "#SafeMigration", "$IOM", "＠aigul", "@" + "a" * 20, "@aigul\u200d", "\u200c@aigul",
    "@aigul\u200c@mastodon.social",
]  # fmt: skip
SPACES = [
    " ", " ", " ", " ", "\n", "\r\n", "\r", "\t", "\u00a0", "\u2028", "\u2029", "\u200b",
    "\u3000", "\u202f", "\u00ad",
]  # fmt: skip

GROUPS = [EMOJI, CJK, CYRILLIC, ALBANIAN, LATIN, INDIC, SOUTHEAST_ASIAN, OTHER_SCRIPTS]
GROUPS += [PUNCTUATION, URLS, MENTIONS]


def texts(count: int, *, seed: int = 8, longest: int = 40) -> list[str]:
    """`count` texts of 1 to `longest` pieces, each piece from a random group, spaced at random."""
    chooser = random.Random(seed)
    result = []
    for _ in range(count):
        parts = []
        for _ in range(chooser.randint(1, longest)):
            parts.append(chooser.choice(chooser.choice(GROUPS)))
            if chooser.random() < 0.6:
                parts.append(chooser.choice(SPACES))
        result.append("".join(parts))
    return result


def padded(count: int, *, seed: int, units: list[str], target: int) -> list[str]:
    """`count` hard texts, each followed by repeats of a unit until about `target` units long.

    The caller measures and trims; here each text just grows to the region around the limit.
    """
    chooser = random.Random(seed)
    result = []
    for text in texts(count, seed=seed, longest=8):
        unit = chooser.choice(units)
        result.append(text + " " + unit * chooser.randint(target - 30, target + 5))
    return result
