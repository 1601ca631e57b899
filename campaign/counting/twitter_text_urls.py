"""The URLs X counts as 23: twitter-text 3.1.0's `extractUrlsWithIndices`, in our own words.

A URL starts after a character that is not a letter, digit, @, $ or #; then an optional
http(s)://; labels, the last followed by a top-level domain from twitter-text's own list (not
glued to a letter, digit, @, + or -); then port, path (balanced parentheses, no trailing
punctuation) and query. Without a scheme only the ASCII (and accented Latin) domains inside
count, and the last takes the path along; a bare country-code domain such as `24.kg` is a URL
like any other (twitter-text 2.x wanted a path after one; 3.x does not). A t.co link ends with
its slug. A URL fails when a label is over 63 characters punycode-encoded, or when its scheme
(https:// if none) and the URL together take over 4,096 UTF-16 units.
"""

from __future__ import annotations

import regex

from campaign.counting.tlds import COUNTRY, GENERIC

MAX_URL_LENGTH = 4096
_MAX_LABEL_LENGTH = 63
_MAX_TCO_SLUG_LENGTH = 40


_Trie = dict[str, "_Trie"]


def trie(words: tuple[str, ...]) -> str:
    """An alternation of `words` as a trie, trying longer words first: fast with 1,600 TLDs.

    With the lookahead that follows every TLD, trying the longer of two words first matches
    what twitter-text's list order (reverse alphabetical) matches.
    """
    tree: _Trie = {}
    for word in words:
        node = tree
        for char in word.lower():
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


# Character classes of twitter-text's URL grammar (regexp/*.js), as class bodies.
_PUNCTUATION = r"!'#%&()*+,\\/:;<=>?@\[\]^{|}~$"  # its `punct` less . _ and -, handled apart
_SPACES = r"\t-\r\x20\x85\xA0\u1680\u180E\u2000-\u200A\u2028\u2029\u202F\u205F\u3000"
_INVALID = r"\uFFFE\uFEFF\uFFFF"
_DIRECTIONAL = r"\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069"
_NOT_IN_DOMAIN = _PUNCTUATION + _SPACES + _INVALID + _DIRECTIONAL
_NOT_IN_LABEL = _NOT_IN_DOMAIN + "."
LATIN_ACCENTS = (
    r"\xC0-\xD6\xD8-\xF6\xF8-\xFF\u0100-\u024F\u0253\u0254\u0256\u0257\u0259\u025B\u0263"
    r"\u0268\u026F\u0272\u0289\u028B\u02BB\u0300-\u036F\u1E00-\u1EFF"
)
_LETTERS = r"a-z0-9\u0400-\u04FF" + LATIN_ACCENTS  # path letters: ASCII, Cyrillic, accented Latin
_PATH = r"[" + _LETTERS + r"!*';:=+,.$/%#\[\]\-\u2013_~@|&]"
_PATH_END = r"[" + _LETTERS + r"+\-=_#/]"  # so "/page." leaves its full stop out
_QUERY = r"[a-z0-9!?*'@();:&=+$/%#\[\]\-_.,~|]"
_QUERY_END = r"[a-z0-9\-_&=#/]"
# A TLD from twitter-text's list, not glued to a letter, digit, @, + or -; or any punycode.
TLD = r"(?:" + trie(GENERIC + COUNTRY) + r"(?=[^0-9a-z@+\-]|$)|xn--[\-0-9a-z]+)"
_PARENS = rf"\((?:{_PATH}++|{_PATH}*+\({_PATH}++\){_PATH}*+)\)"  # one nested level at most

# The URL pattern in two parts: what decides whether a URL starts here, then what it takes along.
_URL_HEAD = regex.compile(
    r"(?P<before>[^a-z0-9@＠$#＃" + _INVALID + r"]|^)"
    r"(?P<protocol>https?://)?"
    # Labels start and end with a label character; only subdomains may hold an underscore.
    r"(?P<domain>(?:[^" + _NOT_IN_LABEL + r"_\-][^" + _NOT_IN_LABEL + r"]*+(?<![_\-])\.)*"
    r"[^" + _NOT_IN_LABEL + r"_\-][^" + _NOT_IN_LABEL + r"_]*+(?<!-)\." + TLD + r")",
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
_ASCII_DOMAIN = regex.compile(r"(?:[\-a-z0-9" + LATIN_ACCENTS + r"]+\.)+" + TLD, regex.IGNORECASE)
_TCO = regex.compile(rf"https?://t\.co/([a-z0-9]+)(?:\?{_QUERY}*{_QUERY_END})?", regex.IGNORECASE)
# A domain has a full stop before its TLD: only around one does the URL pattern need trying,
# from the start of the run of domain characters (labels and dots) that holds it.
_TLD_INITIALS = sorted({tld[0].lower() for tld in GENERIC + COUNTRY} | {"x"})
_URL_HINT = regex.compile(
    r"\.[" + "".join(regex.escape(char) for char in _TLD_INITIALS) + "]", regex.IGNORECASE
)
_DOMAIN_EDGE = regex.compile("[" + _NOT_IN_DOMAIN + "]")
_DOMAIN_EDGE_BACKWARDS = regex.compile("(?r)[" + _NOT_IN_DOMAIN + "]")
_LONGEST_PROTOCOL = len("https://")


def extract_urls(text: str) -> list[tuple[int, int]]:
    """(start, end) code point indexes of the URLs twitter-text finds, with or without scheme.

    Indexes are into `text` as given; X counts its NFC form.
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
    if not _valid(domain, len(protocol or "https://") + _utf16_length(text, start, end)):
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
        (offset + host.start(), offset + host.end()) for host in _ASCII_DOMAIN.finditer(domain)
    ]
    if found and has_path:
        found[-1] = (found[-1][0], end)
    return found


def _utf16_length(text: str, start: int, end: int) -> int:
    """How many UTF-16 units text[start:end] takes, as JavaScript's `length` counts."""
    return end - start + sum(1 for char in text[start:end] if char > "\uffff")


def _valid(domain: str, length: int) -> bool:
    """Whether each label fits DNS once punycode-encoded, and the URL (with a scheme) 4,096.

    As twitter-text's `idna.toAscii` has it: a domain that starts with xn-- must hold an ASCII
    domain; the length check counts the domain as written, not encoded.
    """
    if domain[:4] == "xn--" and not _ASCII_DOMAIN.search(domain):
        return False
    for label in domain.split("."):
        encoded = len(label) if label.isascii() else 4 + len(label.encode("punycode"))
        if not 0 < encoded <= _MAX_LABEL_LENGTH:
            return False
    return length <= MAX_URL_LENGTH
