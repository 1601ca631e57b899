#!/usr/bin/env sh
# The project's test command: formatting, lint, types, then the test suite.
# The suite starts its own redis-server and drives headless Chromium, which it checks with
# axe-core; on a Debian machine where we are root, missing tools are installed from Debian's
# packages (with g++ and make, which build the Bluesky PDS's SQLite module). The platforms'
# reference implementations (Node 22 from PyPI, twitter-text and the Bluesky PDS from npm)
# and axe-core are installed into ~/.cache/campaign-scheduler once.
set -eu
cd "$(dirname "$0")/.."

missing=""
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
command -v g++ >/dev/null 2>&1 || missing="$missing g++"
command -v make >/dev/null 2>&1 || missing="$missing make"
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing$missing from Debian's packages"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
  else
    echo "the tests need:$missing (e.g. sudo apt-get install$missing)" >&2
    exit 1
  fi
fi

ruff format --check .
ruff check .
mypy
python -m tests.reference.install
python -m pytest "$@"
