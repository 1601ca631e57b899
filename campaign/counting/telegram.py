"""The text Telegram counts: TDLib's cleanup of a message, in our own words.

The Bot API hands a message to TDLib, which first cleans it (td/utils/misc.cpp,
`clean_input_string`): it removes every CR, the line and paragraph separators and the bidi
embeddings and overrides (U+2028-U+202E) and the combining vertical lines U+030A, U+0333 and
U+033F; it turns every other control character below U+0020 except LF (so a tab too) into a
space. Then it trims spaces and line breaks from both ends and checks 1 to 4,096 code points.
A text whose every character is invisible to TDLib (`is_empty_string`: spaces, line breaks,
zero-width spaces and joiners, direction marks, BOM, no-break and other Unicode spaces, U+2800,
U+FFFC, tag characters) counts as empty, and Telegram refuses it.
"""

from __future__ import annotations

import re

import regex

_REMOVED = regex.compile(r"[\r\u2028-\u202E\u030A\u0333\u033F]")
_TO_SPACE = regex.compile(r"[\x00-\x09\x0B\x0C\x0E-\x1F]")
# What TDLib changes; the standard library's `re` finds a plain class faster than `regex`.
_TOUCHED = re.compile(r"[\x00-\x09\x0B-\x1F\u2028-\u202E\u030A\u0333\u033F]")
_INVISIBLE = regex.compile(
    r"[ \n\u00A0\u1680\u180E\u2000-\u200F\u202E\u202F\u205F\u2800\u3000\uFEFF\uFFFC"
    r"\U000E0000-\U000E007F]*"
)


def cleaned(text: str) -> str:
    """The text as TDLib keeps it: cleaned of what it removes, then trimmed."""
    if text.isascii():  # then only controls matter, and isprintable finds them at C speed
        touched = not text.replace("\n", "").isprintable()
    else:
        touched = _TOUCHED.search(text) is not None
    if touched:  # most texts hold nothing TDLib changes
        text = _TO_SPACE.sub(" ", _REMOVED.sub("", text))
    return text.strip(" \n")


def is_empty(text: str) -> bool:
    """Whether TDLib finds nothing visible in a cleaned text (it then refuses the message)."""
    return _INVISIBLE.fullmatch(text) is not None
