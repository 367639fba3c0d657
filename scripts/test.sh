#!/usr/bin/env bash
# Runs every test. Installs what the tests need first, idempotently:
#   - a Python virtualenv (.venv) with the pinned reference packages (scripts/requirements-test.txt)
# Usage: scripts/test.sh [extra cargo test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${MLOPS_TEST_VENV:-$PWD/.venv}"
REQUIREMENTS=scripts/requirements-test.txt

if ! cmp -s "$REQUIREMENTS" "$VENV/.installed-requirements" 2>/dev/null; then
  echo "== installing the test virtualenv in $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -r "$REQUIREMENTS"
  cp "$REQUIREMENTS" "$VENV/.installed-requirements"
fi

export MLOPS_TEST_PYTHON="$VENV/bin/python"
export PATH="$VENV/bin:$PATH"

echo "== cargo test" >&2
cargo test --locked --all-targets "$@"
