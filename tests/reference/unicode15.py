"""Unicode 15.0's character database (unicodedata2 15.0.0), as Ruby 3.4 and so Mastodon use it.

Installed with pip into the cache, apart from the project's own unicodedata2 (16.0), and asked
in a separate interpreter, since one process can load only one of them.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from tests.reference import cache

WHEEL = "unicodedata2==15.0.0"


def install() -> Path:
    """The folder holding unicodedata2 15.0.0, installed if needed.

    Raises:
        cache.InstallError: if pip cannot install it.
    """
    return cache.ensure(cache.root() / "unicodedata2-15.0.0", WHEEL, _install)


def _install(target: Path) -> None:
    cache.pip_install(target, WHEEL)


def unassigned() -> set[int]:
    """Every code point Unicode 15.0 leaves unassigned (general category Cn).

    Raises:
        cache.InstallError: if unicodedata2 15.0.0 cannot be installed.
    """
    script = (
        "import json, unicodedata2 as u\n"
        "assert u.unidata_version == '15.0.0', u.unidata_version\n"
        "print(json.dumps([c for c in range(0x110000) if u.category(chr(c)) == 'Cn']))\n"
    )
    environment = {**os.environ, "PYTHONPATH": str(install())}
    output = cache.run([sys.executable, "-c", script], what="unicodedata2 15.0.0", env=environment)
    return set(json.loads(output))
