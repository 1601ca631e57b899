"""Node 22's `Intl.Segmenter` (ICU 77, Unicode 16): how the Bluesky PDS counts graphemes."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass

from tests.reference import cache, node

SCRIPT = cache.HERE / "segmenter.js"


@dataclass(frozen=True)
class Segmented:
    """Grapheme counts of a batch of texts, and the Unicode and ICU versions that made them."""

    unicode: str
    icu: str
    counts: list[int]


def count_graphemes(texts: list[str]) -> Segmented:
    """Each text's grapheme clusters as Node 22 counts them, in one Node process.

    Raises:
        cache.InstallError: if Node 22 cannot be installed.
        RuntimeError: if the Node process fails.
    """
    result = subprocess.run(
        [str(node.executable()), str(SCRIPT)],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=False,
        timeout=300,
    )
    if result.returncode != 0:
        raise RuntimeError(f"Intl.Segmenter reference failed: {result.stderr[-2000:]}")
    answer = json.loads(result.stdout)
    return Segmented(answer["unicode"], answer["icu"], [int(n) for n in answer["counts"]])
