"""The official `twitter-text` 3.1.0 from npm: X's counting reference, as a batch oracle.

Pinned by the lockfile in twitter-text/ (twitter-text 3.1.0 with twemoji-parser 11.0.2 and
punycode 1.4.1); installed with `npm ci` into the cache, keyed by the lockfile's hash.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from tests.reference import cache, node

SOURCE = cache.HERE / "twitter-text"
_FILES = ("package.json", "package-lock.json", "reference.js")


def install() -> Path:
    """The folder holding twitter-text and reference.js, installed if needed.

    Raises:
        cache.InstallError: if npm cannot install the pinned packages.
    """
    key = cache.digest(*(SOURCE / name for name in _FILES)) + f" node {node.VERSION}"
    return cache.ensure(cache.root() / "twitter-text-3.1.0", key, _install)


def _install(target: Path) -> None:
    for name in _FILES:
        shutil.copy(SOURCE / name, target / name)
    # --ignore-scripts: core-js's postinstall only prints a banner.
    node.npm(["ci", "--ignore-scripts", "--no-progress"], cwd=target, what="npm ci twitter-text")


def ask(request: dict[str, Any]) -> Any:
    """One request to reference.js (see there), answered by one Node process.

    Raises:
        cache.InstallError: if twitter-text cannot be installed.
        RuntimeError: if the Node process fails.
    """
    folder = install()
    result = subprocess.run(
        [str(node.executable()), str(folder / "reference.js")],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=False,
        timeout=300,
    )
    if result.returncode != 0:
        raise RuntimeError(f"twitter-text reference failed: {result.stderr[-2000:]}")
    return json.loads(result.stdout)


def parse(texts: list[str]) -> list[tuple[int, bool]]:
    """`parseTweet(text)`'s weightedLength and valid for each text, in one Node process.

    Raises:
        cache.InstallError: if twitter-text cannot be installed.
        RuntimeError: if the Node process fails.
    """
    return [(int(length), bool(valid)) for length, valid in ask({"op": "parse", "texts": texts})]
