"""Text from files, templates and servers, made safe to print on a terminal.

A campaign file, a template or a platform's answer may hold control characters: ESC starts the
sequences that set a window's title, move the cursor or clear the screen, a carriage return
overwrites the start of a line, and bidirectional overrides reorder what is shown. None of them
may reach a terminal raw: `printable` writes each as a visible escape (`\\x1b`, `\\u202e`).
"""

from __future__ import annotations

import re

# C0 controls and DEL, the C1 controls (0x80-0x9f: 0x9b is a one-byte CSI on some terminals),
# the Unicode line and paragraph separators, and the bidirectional embeddings, overrides and
# isolates that make displayed text differ from the bytes.
_CONTROLS = (
    *range(0x00, 0x20),
    0x7F,
    *range(0x80, 0xA0),
    0x2028,
    0x2029,
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
)


def _escape(code: int) -> str:
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


# Tabs move the cursor and nothing else; newlines are kept where a caller asks for them.
_ESCAPES: dict[int, str] = {code: _escape(code) for code in _CONTROLS if code != ord("\t")}
_ESCAPES |= {ord("\n"): "\\n", ord("\r"): "\\r"}
_ONE_LINE = str.maketrans(_ESCAPES)
_LINES = str.maketrans({**_ESCAPES, ord("\n"): "\n"})


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """`text` with every control character and terminal escape written as a visible escape.

    Newlines are escaped too unless `keep_newlines` is set, so one message stays one line and
    cannot pretend to be several.
    """
    return text.translate(_LINES if keep_newlines else _ONE_LINE)


_CONTROL = re.compile(
    "[" + "".join(re.escape(chr(code)) for code in _CONTROLS if chr(code) not in "\t\n") + "]"
)


def control_characters(text: str) -> list[str]:
    """The distinct control characters in `text` (tabs and newlines are ordinary), escaped."""
    if _CONTROL.search(text) is None:  # the usual case, at C speed
        return []
    return sorted({_escape(ord(char)) for char in _CONTROL.findall(text)})


def quoted(value: object, *, limit: int = 60) -> str:
    """`value` for a message: in quotes, escaped, and cut with its size when longer than `limit`.

    A message must never echo a megabyte back, nor a control sequence.
    """
    text = str(value)
    if len(text) <= limit:
        return f"'{printable(text)}'"
    return f"'{printable(text[:limit])}…' ({len(text):,} characters)"
