#!/usr/bin/env bash
# Set up a local virtual environment in .venv with rankstack installed (editable) and the
# test tools. Safe to re-run: an existing .venv is reused. Usage: bash scripts/setup.sh [EXTRAS]
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-test}"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[${extras}]"
