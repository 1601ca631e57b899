#!/usr/bin/env sh
# The project's test command: formatting, lint, types, then the test suite.
set -eu
cd "$(dirname "$0")/.."
ruff format --check .
ruff check .
mypy
python -m pytest "$@"
