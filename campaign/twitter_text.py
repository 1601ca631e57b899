"""X's weighted length of a post: our port of twitter-text v3 (config/v3.json, emoji as 2).

After NFC normalisation (and CR LF or CR read as one LF, as X's clients send line breaks):
- every URL weighs 23, whatever its length;
- every emoji sequence (a flag, a keycap, a skin-toned or ZWJ-joined pictograph) weighs 2;
- every other code point weighs 1 inside v3's ranges (U+0000-U+10FF and some punctuation), else 2.
Code points, not UTF-16 units: twitter-text steps over a surrogate pair as one character.

URLs are found as twitter-text finds them: after a character that is not a letter, digit, @, $ or
#; an optional http(s)://; labels, the last followed by a top-level domain; then port, path
(balanced parentheses, no trailing punctuation) and query. Without a scheme only the ASCII part
of the domain counts, and `name.cc` (a country code) needs a path unless cc is co or tv. The TLDs
are the ICANN section of the Public Suffix List that the publicsuffixlist package ships.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from importlib import resources

import regex

MAX_WEIGHTED_LENGTH = 280
URL_WEIGHT = 23
EMOJI_WEIGHT = 2
# config/v3.json: code points in these ranges weigh 1 (weight 100 at scale 100), others 2.
LIGHT_RANGES = ((0x0000, 0x10FF), (0x2000, 0x200D), (0x2010, 0x201F), (0x2032, 0x2037))
_MAX_URL_LENGTH = 4096
_MAX_LABEL_LENGTH = 63
_MAX_TCO_SLUG_LENGTH = 40
_SPECIAL_CCTLDS = frozenset({"co", "tv"})  # short links on these stand alone: t.co, twitch.tv
_PSL_ICANN_BEGIN = "// ===BEGIN ICANN DOMAINS==="
_PSL_ICANN_END = "// ===END ICANN DOMAINS==="
_PSL_NEW_GTLDS = "// newGTLDs"  # above it: ccTLDs, their IDN forms and the legacy gTLDs


def _load_tlds() -> tuple[frozenset[str], frozenset[str]]:
    """Every ICANN top-level domain (lower case, IDNs also in punycode), and the ccTLDs among them.

    Raises:
        RuntimeError: if the bundled list lacks the section markers this parser relies on.
    """
    data = resources.files("publicsuffixlist").joinpath("public_suffix_list.dat")
    text = data.read_text(encoding="utf-8")
    if not all(marker in text for marker in (_PSL_ICANN_BEGIN, _PSL_ICANN_END, _PSL_NEW_GTLDS)):
        raise RuntimeError("publicsuffixlist's public_suffix_list.dat lacks its ICANN markers")
    icann = text.split(_PSL_ICANN_BEGIN, 1)[1].split(_PSL_ICANN_END, 1)[0]
    legacy, new = icann.split(_PSL_NEW_GTLDS, 1)
    every: set[str] = set()
    country: set[str] = set()
    for part, countries in ((legacy, True), (new, False)):
        for line in part.splitlines():
            rule = line.strip()
            if not rule or rule.startswith("//"):
                continue
            tld = rule.rsplit(".", 1)[-1].lstrip("!*").lower()
            every.add(tld)
            if not tld.isascii():
                every.add("xn--" + tld.encode("punycode").decode())
            # As in twitter-text's list, a ccTLD written in punycode is not a ccTLD here.
            if countries and (len(tld) == 2 or not tld.isascii()):
                country.add(tld)
    return frozenset(every), frozenset(country)


_Trie = dict[str, "_Trie"]


def _trie(words: frozenset[str]) -> str:
    """An alternation of `words` as a trie, trying longer words first: fast with 1,600 TLDs."""
    tree: _Trie = {}
    for word in words:
        node = tree
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def render(node: _Trie) -> str:
        branches = [
            regex.escape(char) + render(rest) for char, rest in sorted(node.items()) if char
        ]
        if not branches:
            return ""
        return "(?:" + "|".join(branches) + (")?" if "" in node else ")")

    return render(tree)


TLDS, CCTLDS = _load_tlds()

# Character classes of twitter-text's URL grammar (regexp/*.js), as class bodies.
_SYMBOLS = r"!'#%&()*+,\\/:;<=>?@\[\]^{|}~$"  # its punctuation less . and the _ and - labels hold
_SPACES = r"\t-\r\x20\x85\xA0\u1680\u180E\u2000-\u200A\u2028\u2029\u202F\u205F\u3000"
_INVALID = r"\uFFFE\uFEFF\uFFFF"
_DIRECTIONAL = r"\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069"
_NOT_IN_DOMAIN = _SYMBOLS + _SPACES + _INVALID + _DIRECTIONAL
_NOT_IN_LABEL = _NOT_IN_DOMAIN + "."
_LATIN = (
    r"\xC0-\xD6\xD8-\xF6\xF8-\xFF\u0100-\u024F\u0253\u0254\u0256\u0257\u0259\u025B\u0263"
    r"\u0268\u026F\u0272\u0289\u028B\u02BB\u0300-\u036F\u1E00-\u1EFF"
)
_LETTERS = r"a-z0-9\u0400-\u04FF" + _LATIN  # path letters: ASCII, Cyrillic, accented Latin
_PATH = r"[" + _LETTERS + r"!*';:=+,.$/%#\[\]\-\u2013_~@|&]"
_PATH_END = r"[" + _LETTERS + r"+\-=_#/]"  # so "/page." leaves its full stop out
_QUERY = r"[a-z0-9!?*'@();:&=+$/%#\[\]\-_.,~|]"
_QUERY_END = r"[a-z0-9\-_&=#/]"
# A top-level domain from the list, not glued to a letter, digit, @, + or -; or any punycode.
_TLD = r"(?:" + _trie(TLDS) + r"(?=[^0-9a-z@+\-]|$)|xn--[\-0-9a-z]+)"
_PARENS = rf"\((?:{_PATH}++|{_PATH}*+\({_PATH}++\){_PATH}*+)\)"  # one nested level at most

# The URL pattern in two parts: what decides whether a URL starts here, then what it takes along.
_URL_HEAD = regex.compile(
    r"(?P<before>[^a-z0-9@＠$#＃" + _INVALID + r"]|^)"
    r"(?P<protocol>https?://)?"
    # Labels start and end with a label character; only subdomains may hold an underscore.
    r"(?P<domain>(?:[^" + _NOT_IN_LABEL + r"_\-][^" + _NOT_IN_LABEL + r"]*+(?<![_\-])\.)*"
    r"[^" + _NOT_IN_LABEL + r"_\-][^" + _NOT_IN_LABEL + r"_]*+(?<!-)\." + _TLD + r")",
    regex.IGNORECASE,
)
_URL_TAIL = regex.compile(
    r"(?::[0-9]++)?"
    # A path ends with an ending character, then maybe parenthesised groups: "/a(b)" and
    # "/a_(b)(c)" but not "/a!(b)", where the URL stops at "/a".
    rf"(?P<path>/(?:(?:{_PATH}|{_PARENS})*{_PATH_END})?(?:{_PARENS})*)?"
    rf"(?:\?{_QUERY}*{_QUERY_END})?",
    regex.IGNORECASE,
)
# Without a scheme, twitter-text keeps only the ASCII (and accented Latin) domains inside.
_ASCII_DOMAIN = regex.compile(r"(?:[\-a-z0-9" + _LATIN + r"]+\.)+" + _TLD, regex.IGNORECASE)
_TCO = regex.compile(rf"https?://t\.co/([a-z0-9]+)(?:\?{_QUERY}*{_QUERY_END})?", regex.IGNORECASE)
# A domain has a full stop before its TLD: only around one does the URL pattern need trying,
# from the start of the run of domain characters (labels and dots) that holds it.
_URL_HINT = regex.compile(
    r"\.[" + "".join(regex.escape(char) for char in sorted({tld[0] for tld in TLDS})) + "]",
    regex.IGNORECASE,
)
_DOMAIN_EDGE = regex.compile("[" + _NOT_IN_DOMAIN + "]")
_DOMAIN_EDGE_BACKWARDS = regex.compile("(?r)[" + _NOT_IN_DOMAIN + "]")
_LONGEST_PROTOCOL = len("https://")

# Emoji sequences as twemoji (which twitter-text counts with) finds them, in UTS #51 terms.
# ©, ®, ™ and ♟ are text unless U+FE0F follows; other pictographs are emoji unless U+FE0E does,
# and a U+FE0F after one that is emoji by default is a character of its own.
_EMOJI = regex.compile(
    r"""
    (?=[\#*0-9\p{Extended_Pictographic}\p{Emoji_Presentation}])  # fails fast elsewhere
    (?:
    \p{RI}\p{RI}                                    # a flag
    | [\#*0-9]\uFE0F?\u20E3                          # a keycap
    | \U0001F3F4[\U000E0020-\U000E007E]+\U000E007F   # a subdivision flag (tag sequence)
    | (?&part)(?:\u200D(?&part))*                    # a pictograph, maybe ZWJ-joined to more
    )
    (?(DEFINE)(?P<part>
        \p{Emoji_Modifier_Base}\p{Emoji_Modifier}
      | [\u00A9\u00AE\u2122\u265F]\uFE0F
      | \p{Emoji_Presentation}
      | (?![\u00A9\u00AE\u2122\u265F])\p{Extended_Pictographic}(?:\uFE0F|(?!\uFE0E))
    ))
    """,
    regex.VERBOSE,
)
_HEAVY = regex.compile(
    "[^" + "".join(rf"\U{start:08X}-\U{end:08X}" for start, end in LIGHT_RANGES) + "]+"
)


def weighted_length(text: str) -> int:
    """The length X counts for `text` (twitter-text v3's weightedLength); X's limit is 280."""
    text = unicodedata.normalize("NFC", text)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    length, done = 0, 0
    for start, end in extract_urls(text):
        length += _weight(text[done:start]) + URL_WEIGHT
        done = end
    return length + _weight(text[done:])


def extract_urls(text: str) -> list[tuple[int, int]]:
    """(start, end) code point indexes of the URLs twitter-text finds, with or without scheme.

    Indexes are into `text` as given; weighted_length passes it NFC-normalised, as X does.
    """
    urls: list[tuple[int, int]] = []
    position = scan = 0  # where the next URL (with the character before it) may start; stops
    while (hint := _URL_HINT.search(text, scan)) is not None:
        # A URL using this full stop has its domain in the run of domain characters (labels
        # and dots) around it; the URL starts one character before, or before its scheme.
        edge = _DOMAIN_EDGE_BACKWARDS.search(text, scan, hint.start())
        start = edge.end() if edge else scan
        start -= _LONGEST_PROTOCOL + 1 if text.endswith("://", 0, start) else 1
        edge = _DOMAIN_EDGE.search(text, hint.start())
        scan = edge.start() if edge else len(text)
        # One character past the run, so that a TLD sees what follows it.
        head = _URL_HEAD.search(text, max(position, start), min(scan + 1, len(text)))
        if head is not None:
            # Port, path and query are each optional: the tail always matches, maybe empty.
            tail = _URL_TAIL.match(text, head.end())
            position = scan = tail.end() if tail else head.end()
            urls += _accepted(text, head, position, bool(tail and tail["path"]))
    return urls


def _accepted(text: str, head: regex.Match[str], end: int, has_path: bool) -> list[tuple[int, int]]:
    """The URLs twitter-text keeps of one match of its URL pattern: none, one or several."""
    protocol, domain = head["protocol"], head["domain"]
    start = head.end("before")
    # twitter-text adds a scheme's length (https:// if none) to the URL's, which holds it.
    if not _valid_host(domain, len(protocol or "https://") + end - start):
        return []
    if protocol:
        tco = _TCO.match(text, start, end)
        if tco is None:
            return [(start, end)]
        # A t.co link ends with its slug (and query); one with a slug too long is no link.
        return [] if len(tco[1]) > _MAX_TCO_SLUG_LENGTH else [(start, tco.end())]
    if head["before"] in ("-", "_", ".", "/"):
        return []
    # Without a scheme: the ASCII domains inside, the last one taking the path along.
    offset = head.start("domain")
    found = [
        (offset + host.start(), offset + host.end(), host[0])
        for host in _ASCII_DOMAIN.finditer(domain)
    ]
    if found and has_path:
        found[-1] = (found[-1][0], end, found[-1][2])
    return [(first, last) for first, last, host in found if has_path or not _is_short(host)]


def _valid_host(domain: str, length: int) -> bool:
    """Whether each label fits DNS once punycode-encoded, and the whole URL fits 4,096."""
    if domain[:4] == "xn--" and not _ASCII_DOMAIN.search(domain):
        return False
    for label in domain.split("."):
        encoded = len(label) if label.isascii() else 4 + len(label.encode("punycode"))
        if not 0 < encoded <= _MAX_LABEL_LENGTH:
            return False
        length += encoded - len(label)
    return length <= _MAX_URL_LENGTH


def _is_short(host: str) -> bool:
    """`name.cc` alone (e.g. foo.jp, not t.co): twitter-text wants a path or a scheme for it."""
    name, dot, tld = host.partition(".")
    tld = tld.lower()
    return (
        bool(dot)
        and "." not in tld
        and tld in CCTLDS
        and tld not in _SPECIAL_CCTLDS
        and not name.startswith("-")
        and not name.endswith("-")
    )


def _weight(text: str) -> int:
    """Weight of text without URLs: code points by range, each emoji sequence as 2."""
    if text.isascii():
        return len(text)
    weight = len(text) + _heavy(text)
    if weight == len(text):
        return weight  # every emoji holds a heavy code point (U+FE0F after © and ®)
    return weight - sum(map(_emoji_discount, _EMOJI.findall(text)))


@lru_cache(maxsize=1024)
def _emoji_discount(emoji: str) -> int:
    """What an emoji sequence weighs by its code points beyond the 2 it counts as a whole."""
    return len(emoji) + _heavy(emoji) - EMOJI_WEIGHT


def _heavy(text: str) -> int:
    """How many code points of `text` lie outside v3's weight-1 ranges."""
    return sum(map(len, _HEAVY.findall(text)))
