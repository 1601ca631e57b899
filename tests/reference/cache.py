"""Where the reference implementations are installed, and how an install stays idempotent."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
_DONE = ".installed"  # written last, so a half-done install is redone, not trusted


class InstallError(RuntimeError):
    """Raised when a reference implementation cannot be installed or does not run."""


def root() -> Path:
    """The cache folder: $XDG_CACHE_HOME/campaign-scheduler, else ~/.cache/campaign-scheduler."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "campaign-scheduler"


def digest(*files: Path) -> str:
    """A short hash of these files' bytes: the cache key of what they pin."""
    hasher = hashlib.sha256()
    for file in files:
        hasher.update(file.read_bytes())
    return hasher.hexdigest()[:12]


@contextmanager
def _locked(target: Path) -> Iterator[None]:
    """Hold an exclusive lock on `target`'s install, so concurrent test runs install it once."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / f".{target.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure(target: Path, key: str, install: Callable[[Path], None]) -> Path:
    """`target`, installed by `install(target)` unless an install with this `key` finished there.

    Raises:
        InstallError: if `install` fails.
    """
    marker = target / _DONE
    if marker.is_file() and marker.read_text() == key:
        return target
    with _locked(target):
        if marker.is_file() and marker.read_text() == key:
            return target  # another process finished it while we waited
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        install(target)
        marker.write_text(key)
    return target


def run(command: Sequence[str | Path], *, what: str, **options: object) -> str:
    """Run an install step and return its output.

    Raises:
        InstallError: with the step's output, if it fails.
    """
    result = subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        check=False,
        **options,  # type: ignore[call-overload]
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr)[-4000:]
        raise InstallError(f"{what} failed (exit {result.returncode}):\n{output}")
    return str(result.stdout)


def pip_install(target: Path, requirement: str) -> None:
    """Install one pinned wheel (no dependencies) into `target`, apart from the project's own.

    Raises:
        InstallError: if pip fails.
    """
    command: list[str | Path] = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"]
    run([*command, "--target", target, requirement], what=f"pip install {requirement}")
