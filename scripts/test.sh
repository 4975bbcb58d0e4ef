#!/usr/bin/env bash
# What CI runs (.ci/run): set-up with the test tools, lint, the import layers, the tests, then
# benchmarks/gpu_smoke.py in its CPU form.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not slow"`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
.venv/bin/ruff check sorakit tests
.venv/bin/lint-imports
.venv/bin/python -m pytest -q "$@"
# The GPU smoke test's every step, on the CPU here (on a GPU machine it measures the GPU).
.venv/bin/python benchmarks/gpu_smoke.py --out "$(mktemp -d)/gpu-smoke"
