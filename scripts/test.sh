#!/usr/bin/env bash
# What CI runs (.ci/run): set-up with the test tools, lint, the import layers, then the tests.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not slow"`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
.venv/bin/ruff check sorakit tests
.venv/bin/lint-imports
.venv/bin/python -m pytest -q "$@"
