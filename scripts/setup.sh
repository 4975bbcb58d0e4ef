#!/usr/bin/env bash
# Installs sorakit into .venv on a fresh machine: torch's CPU build first (the package itself
# asks only for a range of torch versions), then sorakit. `setup.sh dev` adds the test tools.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install -q torch==2.13.0
if [ "${1:-}" = dev ]; then
    .venv/bin/pip install -q -e ".[dev]"
else
    .venv/bin/pip install -q -e .
fi
