"""Text that reaches a terminal: never raw control characters or escape sequences.

Texts from campaign files, templates and servers may hold ESC sequences that retitle a window
or clear the screen; everything printed for people goes through `printable`.
"""

from __future__ import annotations

import re

# C0 and C1 control characters, DEL, and the bidirectional overrides that reorder what follows.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str, *, newlines: bool = False) -> str:
    """`text` with every control character shown as an escape (`\\x1b`); newlines and tabs
    are kept when `newlines` is set."""
    if not newlines:
        text = text.replace("\n", "\\n").replace("\t", "\\t")
    return _CONTROL.sub(lambda m: m[0].encode("unicode_escape").decode("ascii"), text)
